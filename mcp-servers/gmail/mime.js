// RFC 2822/5322 message building for send_message and decoding of the Gmail
// API's message resource for read_message. Pure functions, unit-tested on their own.

import {randomUUID} from 'node:crypto';

export class MessageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MessageError';
  }
}

const CRLF = '\r\n';
// Encoded words are at most 75 chars (RFC 2047 §2); "=?UTF-8?B?" + "?=" leave 63,
// i.e. 45 bytes of UTF-8 per word.
const WORD_BYTES = 45;
const MAX_PLAIN_HEADER = 900; // well inside the 998-octet line limit

// CR or LF in a header value would start a new header (or the body): the classic
// header injection. NUL is not allowed in a message at all.
export function assertHeaderSafe(name, value) {
  if (/[\r\n\0]/.test(value)) throw new MessageError(`${name} must not contain CR, LF or NUL (header injection)`);
}

// RFC 2047 B encoding, split on code point boundaries so no word holds half a character.
export function encodeWords(text) {
  const words = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > WORD_BYTES) {
      words.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += ch;
    bytes += n;
  }
  if (chunk !== '' || words.length === 0) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(`${CRLF} `);
}

// Unstructured text (Subject): as is when plain printable ASCII, else encoded words.
export function encodeUnstructured(text) {
  if (/^[\x20-\x7e]*$/.test(text) && !text.includes('=?') && text.length <= MAX_PLAIN_HEADER) return text;
  return encodeWords(text);
}

const ADDR_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const ATOM_PHRASE_RE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$/;

// Splits "a@x, Name <b@y>, \"Last, First\" <c@z>" on commas outside quotes and angle brackets.
function splitAddressList(text) {
  const out = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && quoted && i + 1 < text.length) {
      cur += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (ch === '<' && !quoted) angle = true;
    else if (ch === '>' && !quoted) angle = false;
    if (ch === ',' && !quoted && !angle) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function formatMailbox(entry) {
  let name = '';
  let addr = entry;
  const m = /^(.*?)\s*<([^<>]*)>$/.exec(entry);
  if (m) {
    name = m[1].trim();
    addr = m[2].trim();
    if (name.startsWith('"') && name.endsWith('"') && name.length >= 2) {
      name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    }
  }
  if (!ADDR_RE.test(addr)) throw new MessageError(`not an email address: "${entry.slice(0, 100)}"`);
  if (name === '') return addr;
  if (ATOM_PHRASE_RE.test(name)) return `${name} <${addr}>`;
  if (/^[\x20-\x7e]*$/.test(name) && !name.includes('=?')) {
    return `"${name.replace(/(["\\])/g, '\\$1')}" <${addr}>`;
  }
  return `${encodeWords(name)} <${addr}>`;
}

// Accepts one string (comma-separated) or an array of strings; returns the
// header value, or undefined when empty.
export function formatAddressList(name, value) {
  if (value === undefined || value === null) return undefined;
  const items = Array.isArray(value) ? value : [value];
  const mailboxes = [];
  for (const item of items) {
    assertHeaderSafe(name, item);
    for (const entry of splitAddressList(item)) mailboxes.push(formatMailbox(entry));
  }
  return mailboxes.length ? mailboxes.join(`,${CRLF} `) : undefined;
}

// RFC 5322 date-time with a numeric zone ("GMT" is only an obsolete form).
export function formatDate(date) {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

function wrap(text, width) {
  const lines = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines.join(CRLF);
}

// Builds a text/plain UTF-8 message with CRLF line endings and a base64 body
// (76-char lines, RFC 2045). Returns the message as a string of ASCII.
export function buildMessage({from, to, cc, bcc, subject = '', body = '', inReplyTo, references, date = new Date(), messageId}) {
  assertHeaderSafe('subject', subject);
  for (const [k, v] of [['inReplyTo', inReplyTo], ['references', references], ['messageId', messageId]]) {
    if (v !== undefined) assertHeaderSafe(k, v);
  }
  const headers = [];
  const fromValue = formatAddressList('from', from);
  const toValue = formatAddressList('to', to);
  const ccValue = formatAddressList('cc', cc);
  const bccValue = formatAddressList('bcc', bcc);
  if (!toValue && !ccValue && !bccValue) throw new MessageError('at least one recipient (to, cc or bcc) is required');
  const domain = /@([^>]+)>?$/.exec(fromValue ?? '')?.[1] ?? 'minimcp.local';
  if (fromValue) headers.push(`From: ${fromValue}`);
  if (toValue) headers.push(`To: ${toValue}`);
  if (ccValue) headers.push(`Cc: ${ccValue}`);
  // Gmail delivers to Bcc recipients and strips the header before sending.
  if (bccValue) headers.push(`Bcc: ${bccValue}`);
  headers.push(`Subject: ${encodeUnstructured(subject)}`);
  headers.push(`Date: ${formatDate(date)}`);
  headers.push(`Message-ID: ${messageId ?? `<${randomUUID()}@${domain}>`}`);
  if (inReplyTo) headers.push(`In-Reply-To: ${inReplyTo}`);
  if (references ?? inReplyTo) headers.push(`References: ${references ?? inReplyTo}`);
  headers.push('MIME-Version: 1.0');
  headers.push('Content-Type: text/plain; charset=UTF-8');
  headers.push('Content-Transfer-Encoding: base64');
  // text/plain's canonical form has CRLF line breaks (RFC 2046 §4.1.1).
  const canonical = String(body).replace(/\r\n|\r|\n/g, CRLF);
  const encoded = wrap(Buffer.from(canonical, 'utf8').toString('base64'), 76);
  return headers.join(CRLF) + CRLF + CRLF + encoded + CRLF;
}

// --- reading -------------------------------------------------------------

// RFC 2047 encoded words back to text (Gmail usually decodes them already).
export function decodeWords(text) {
  if (typeof text !== 'string' || !text.includes('=?')) return text;
  // Whitespace between adjacent encoded words is not part of the text.
  const joined = text.replace(/(\?=)\s+(?==\?)/g, '$1');
  return joined.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (all, charset, enc, data) => {
    let bytes;
    if (enc.toUpperCase() === 'B') {
      bytes = Buffer.from(data, 'base64');
    } else {
      const s = data.replace(/_/g, ' ');
      bytes = Buffer.from(s.replace(/=([0-9A-Fa-f]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    }
    return decodeBytes(bytes, charset.split('*')[0]) ?? all;
  });
}

function decodeBytes(bytes, charset = 'utf-8') {
  try {
    return new TextDecoder(charset.trim().toLowerCase() || 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

function headerMap(headers = []) {
  const map = {};
  for (const {name, value} of headers) {
    const k = String(name).toLowerCase();
    if (!(k in map)) map[k] = value;
  }
  return map;
}

function charsetOf(part) {
  const type = headerMap(part.headers)['content-type'] ?? '';
  return /charset="?([^";\s]+)"?/i.exec(type)?.[1] ?? 'utf-8';
}

function partText(part) {
  const data = part.body?.data;
  if (typeof data !== 'string') return undefined;
  return decodeBytes(Buffer.from(data, 'base64url'), charsetOf(part));
}

function walk(part, visit) {
  visit(part);
  for (const p of part.parts ?? []) walk(p, visit);
}

function htmlToText(html) {
  return html
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, '')
      .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])>/gi, '\n')
      .replace(/<[^>]+>/g, '')
      .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'").replace(/&amp;/g, '&')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
}

// The Gmail message resource (format=full) as what a reader needs: the main
// headers, the first text/plain part (else text/html made plain), attachments.
export function decodeMessage(msg) {
  const payload = msg.payload ?? {};
  const h = headerMap(payload.headers);
  let plain;
  let html;
  const attachments = [];
  walk(payload, (part) => {
    const type = (part.mimeType ?? '').toLowerCase();
    if (part.filename) {
      attachments.push({filename: part.filename, mimeType: part.mimeType, size: part.body?.size ?? 0,
        attachmentId: part.body?.attachmentId});
      return;
    }
    if (type === 'text/plain' && plain === undefined) plain = partText(part);
    else if (type === 'text/html' && html === undefined) html = partText(part);
  });
  const out = {
    id: msg.id,
    threadId: msg.threadId,
    labelIds: msg.labelIds ?? [],
    snippet: msg.snippet,
    subject: decodeWords(h.subject),
    from: decodeWords(h.from),
    to: decodeWords(h.to),
    cc: decodeWords(h.cc),
    date: h.date,
    messageId: h['message-id'],
    body: plain ?? (html !== undefined ? htmlToText(html) : ''),
    attachments,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}
