// Request checks every instance server applies to /mcp: the instance access
// token (README, "Security model"), and Host and Origin validation against
// DNS rebinding from a browser.

import {createHash, timingSafeEqual} from 'node:crypto';

// Compares digests rather than raw values so timingSafeEqual gets equal
// lengths and the token's length is not leaked through timing either.
export function bearerMatches(authorizationHeader, expectedToken) {
  if (typeof authorizationHeader !== 'string' || !expectedToken) return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorizationHeader);
  if (!m) return false;
  const got = createHash('sha256').update(m[1]).digest();
  const want = createHash('sha256').update(expectedToken).digest();
  return timingSafeEqual(got, want);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function normaliseOrigin(text) {
  try {
    const u = new URL(text);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    // An origin has no path, query or credentials; anything more is not one.
    if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password) {
      return undefined;
    }
    return u;
  } catch {
    return undefined;
  }
}

// Absent Origin (non-browser clients, the gateway) is allowed; a present one
// must be a loopback origin or listed exactly in allowedOrigins.
export function originAllowed(originHeader, allowedOrigins = []) {
  if (originHeader === undefined) return true;
  if (typeof originHeader !== 'string') return false;
  const u = normaliseOrigin(originHeader);
  if (!u) return false;
  if (LOOPBACK_HOSTS.has(u.hostname)) return true;
  return allowedOrigins.some((a) => {
    const au = normaliseOrigin(a);
    return au !== undefined && au.origin === u.origin;
  });
}

// The server listens on 127.0.0.1 only, so every legitimate request (the gateway, the health
// prober, a local client, an ssh -L forward) names a loopback host; a page that rebinds its own
// name to 127.0.0.1 sends that name instead. An absent Host (HTTP/1.0) is let through.
export function hostAllowed(hostHeader) {
  if (hostHeader === undefined) return true;
  if (typeof hostHeader !== 'string') return false;
  const m = /^(\[::1\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(hostHeader.trim().toLowerCase());
  return m !== null && LOOPBACK_HOSTS.has(m[1]);
}
