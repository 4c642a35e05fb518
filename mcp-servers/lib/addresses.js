// Where an IP address is: on the public internet, or on this host or a network beside it
// (loopback, private, link-local where cloud metadata services answer, shared/CGNAT, unique
// local, multicast, reserved, and the IPv6 forms that carry such an IPv4 address: mapped,
// compatible, NAT64, 6to4). A process that connects to a URL a tenant chose checks every address
// it is about to connect to (checkedLookup), not only the URL's text, so that a name resolving to
// 127.0.0.1, or answering differently by the time of the connection (DNS rebinding), reaches
// nothing but the public internet.
import dns from 'node:dns';
import {isIPv4, isIPv6} from 'node:net';

// The error checkedLookup fails a connection with (err.code).
export const ADDRESS_REFUSED = 'ERR_ADDRESS_REFUSED';

function inV4([a, b, c, d], [pa, pb, pc, pd], bits) {
  const n = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const p = ((pa << 24) | (pb << 16) | (pc << 8) | pd) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((n & mask) >>> 0) === ((p & mask) >>> 0);
}

const V4_RANGES = [
  [[0, 0, 0, 0], 8, 'an unspecified address'],
  [[127, 0, 0, 0], 8, 'a loopback address'],
  [[169, 254, 0, 0], 16, 'a link-local address'],
  [[10, 0, 0, 0], 8, 'a private address'],
  [[172, 16, 0, 0], 12, 'a private address'],
  [[192, 168, 0, 0], 16, 'a private address'],
  [[100, 64, 0, 0], 10, 'a private (shared, carrier-grade NAT) address'],
  [[192, 0, 0, 0], 24, 'a special-purpose address'],
  [[192, 0, 2, 0], 24, 'a documentation address'],
  [[198, 51, 100, 0], 24, 'a documentation address'],
  [[203, 0, 113, 0], 24, 'a documentation address'],
  [[192, 88, 99, 0], 24, 'a special-purpose address'],
  [[198, 18, 0, 0], 15, 'a benchmarking address'],
  [[224, 0, 0, 0], 4, 'a multicast address'],
  [[240, 0, 0, 0], 4, 'a reserved address'],
];

// Why the IPv4 address [a, b, c, d] is not a public one; '' when it is.
export function ipv4Reason(bytes) {
  for (const [prefix, bits, why] of V4_RANGES) {
    if (inV4(bytes, prefix, bits)) return why;
  }
  return '';
}

// The 16 bytes of a textual IPv6 address (a zone, a trailing dotted quad allowed), or undefined.
function ipv6Bytes(text) {
  let s = String(text).replace(/%.*$/, '');
  if (!isIPv6(s)) return undefined;
  const quad = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(2).map(Number);
    s = `${quad[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = s.split('::');
  const groups = (x) => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  const l = groups(left);
  const r = groups(right);
  const words = right === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill(0), ...r];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function ipv6Reason(b) {
  const zero = (from, to) => b.slice(from, to).every((x) => x === 0);
  const v4At = (i) => b.slice(i, i + 4);
  if (zero(0, 16)) return 'an unspecified address';
  if (zero(0, 15) && b[15] === 1) return 'a loopback address';
  // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address they carry.
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return ipv4Reason(v4At(12));
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    return zero(4, 12) ? ipv4Reason(v4At(12)) : 'a NAT64 address';
  }
  if (zero(0, 12)) return ipv4Reason(v4At(12)) || 'an IPv4-compatible address';
  if (b[0] === 0x20 && b[1] === 0x02) return ipv4Reason(v4At(2)); // 6to4
  if ((b[0] & 0xfe) === 0xfc) return 'a private (unique local) address';
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'a link-local address';
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0xc0) return 'a private (site-local) address';
  if (b[0] === 0xff) return 'a multicast address';
  if (b[0] === 0x01 && b[1] === 0x00 && zero(2, 8)) return 'a discard address';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return 'a Teredo address';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'a documentation address';
  return '';
}

// Why the textual IP address `ip` (v4 dotted quad, or v6 as a resolver or a URL writes it, without
// brackets) is not a public one; '' when it is. Anything else is 'not an IP address'.
export function addressReason(ip) {
  if (isIPv4(ip)) return ipv4Reason(ip.split('.').map(Number));
  const b = ipv6Bytes(ip);
  return b ? ipv6Reason(b) : 'not an IP address';
}

// Why the hostname of a parsed URL (the URL parser has already read every IPv4 notation as
// a.b.c.d, kept IPv6 in brackets) names this host or a network beside it; '' when it is a public
// address or a name other than localhost (a name is checked when it is resolved: checkedLookup).
export function hostReason(hostname) {
  const h = String(hostname).toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return 'a loopback name';
  if (h.startsWith('[') && h.endsWith(']')) return addressReason(h.slice(1, -1));
  if (isIPv4(h)) return addressReason(h);
  return '';
}

function refused(hostname, address, why) {
  const err = new Error(`${hostname} resolves to ${address}, ${why}`);
  err.code = ADDRESS_REFUSED;
  return err;
}

// A `lookup` for net.connect / http(s).request: resolves with `resolve` (dns.lookup's signature)
// and fails the connection with ADDRESS_REFUSED unless every address the name resolves to is
// public (or allowPrivate). The socket connects only to an address this returned, so the check
// holds for the connection itself, whatever the name answers another time.
export function checkedLookup({resolve = dns.lookup, allowPrivate = false} = {}) {
  return (hostname, options, callback) => {
    if (typeof options === 'function') {
      callback = options;
      options = {};
    } else if (typeof options === 'number') {
      options = {family: options};
    }
    resolve(hostname, {...options, all: true}, (err, addresses) => {
      if (err) return callback(err);
      const list = Array.isArray(addresses) ? addresses : [];
      if (list.length === 0) {
        const none = new Error(`${hostname} has no address`);
        none.code = 'ENOTFOUND';
        return callback(none);
      }
      if (!allowPrivate) {
        for (const {address} of list) {
          const why = addressReason(address);
          if (why) return callback(refused(hostname, address, why));
        }
      }
      if (options.all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}
