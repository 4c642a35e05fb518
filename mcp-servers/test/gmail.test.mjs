// gmail server against a local fake of the Gmail REST API v1, plus its MIME builder.
import {describe, test, before, after, beforeEach} from 'node:test';
import assert from 'node:assert/strict';
import {spawnServer, waitHealthy, stopServer, connectClient, withTimeout} from '../lib/testing.js';
import {startFakeUpstream} from '../lib/fake_upstream.js';
import {buildMessage, decodeMessage, decodeWords, encodeWords, formatAddressList, MessageError} from '../gmail/mime.js';

const KEY = 'ya29.test-oauth-token-0123456789';
const CONFIG = {timeout_ms: 300, retry_attempts: 2, retry_base_ms: 10, health_probe_ms: 50};
const b64url = (s) => Buffer.from(s, 'utf8').toString('base64url');

function textOf(result) {
  assert.equal(result.content?.[0]?.type, 'text', JSON.stringify(result));
  return result.content[0].text;
}

// Splits a built message into its header block (unfolded) and body.
function parseRaw(raw) {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return {headers, body: rest.join('\r\n\r\n')};
}

async function health(srv) {
  const r = await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(2000)});
  return {status: r.status, body: await r.json()};
}

describe('gmail server', () => {
  let fake;
  let srv;
  let client;
  before(async () => {
    fake = await startFakeUpstream();
    srv = await spawnServer('gmail/server.js', {config: CONFIG, env: {API_KEY: KEY, GMAIL_API_ENDPOINT: fake.url}});
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake.close();
  });
  beforeEach(() => fake.clear());

  const call = (name, args) => withTimeout(client.callTool({name, arguments: args}), 10000, name);

  test('lists the four tools with input schemas', async () => {
    const {tools} = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['list_messages', 'read_message', 'search_messages', 'send_message']);
    const send = tools.find((t) => t.name === 'send_message');
    assert.deepEqual(send.inputSchema.required.sort(), ['body', 'subject', 'to']);
  });

  test('list_messages: GET messages with maxResults, labelIds, pageToken and the bearer token', async () => {
    fake.setRoute('GET /gmail/v1/users/me/messages', () => ({json: {
      messages: [{id: 'm1', threadId: 't1'}, {id: 'm2', threadId: 't1'}], nextPageToken: 'next', resultSizeEstimate: 2,
    }}));
    const r = await call('list_messages', {maxResults: 5, labelIds: ['INBOX', 'UNREAD'], pageToken: 'tok'});
    assert.ok(!r.isError, textOf(r));
    const expected = {messages: [{id: 'm1', threadId: 't1'}, {id: 'm2', threadId: 't1'}], resultSizeEstimate: 2, nextPageToken: 'next'};
    assert.deepEqual(JSON.parse(textOf(r)), expected);
    assert.deepEqual(r.structuredContent, expected);
    assert.equal(fake.requests.length, 1);
    const req = fake.requests[0];
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/gmail/v1/users/me/messages');
    assert.deepEqual(req.query, {maxResults: '5', labelIds: ['INBOX', 'UNREAD'], pageToken: 'tok'});
    assert.equal(req.headers.authorization, `Bearer ${KEY}`);
    assert.equal(req.body, '');
  });

  test('search_messages: q carries the query; an empty mailbox maps to no messages', async () => {
    fake.setRoute('GET /gmail/v1/users/me/messages', () => ({json: {resultSizeEstimate: 0}}));
    const r = await call('search_messages', {query: 'from:alice subject:"a b" newer_than:7d'});
    assert.deepEqual(JSON.parse(textOf(r)), {messages: [], resultSizeEstimate: 0});
    assert.deepEqual(fake.requests[0].query, {q: 'from:alice subject:"a b" newer_than:7d', maxResults: '20'});
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${KEY}`);
  });

  test('read_message: format=full, headers and the base64url text/plain part decoded', async () => {
    // "ü?>" encodes with base64url-only characters, so a plain base64 decode would garble it.
    const plain = 'Hello Zoë,\r\nsee ü?>~ attached.\r\n';
    fake.setRoute('GET /gmail/v1/users/me/messages/:id', (req) => ({json: {
      id: req.params.id, threadId: 't9', labelIds: ['INBOX'], snippet: 'Hello Zoë',
      payload: {
        mimeType: 'multipart/mixed',
        headers: [
          {name: 'Subject', value: '=?UTF-8?B?' + Buffer.from('Grüße').toString('base64') + '?='},
          {name: 'From', value: 'Alice <alice@example.com>'},
          {name: 'To', value: 'bob@example.com'},
          {name: 'Date', value: 'Tue, 1 Jul 2025 10:00:00 +0000'},
        ],
        parts: [
          {mimeType: 'multipart/alternative', parts: [
            {mimeType: 'text/plain', headers: [{name: 'Content-Type', value: 'text/plain; charset="UTF-8"'}],
              body: {size: 20, data: b64url(plain)}},
            {mimeType: 'text/html', body: {size: 20, data: b64url('<p>Hello</p>')}},
          ]},
          {mimeType: 'application/pdf', filename: 'a.pdf', body: {size: 1234, attachmentId: 'att1'}},
        ],
      },
    }}));
    const r = await call('read_message', {id: '18c0ffee'});
    assert.ok(!r.isError, textOf(r));
    assert.equal(fake.requests[0].method, 'GET');
    assert.equal(fake.requests[0].path, '/gmail/v1/users/me/messages/18c0ffee');
    assert.deepEqual(fake.requests[0].query, {format: 'full'});
    assert.equal(fake.requests[0].headers.authorization, `Bearer ${KEY}`);
    const m = JSON.parse(textOf(r));
    assert.equal(m.id, '18c0ffee');
    assert.equal(m.subject, 'Grüße');
    assert.equal(m.from, 'Alice <alice@example.com>');
    assert.equal(m.to, 'bob@example.com');
    assert.equal(m.date, 'Tue, 1 Jul 2025 10:00:00 +0000');
    assert.equal(m.body, plain);
    assert.deepEqual(m.attachments, [{filename: 'a.pdf', mimeType: 'application/pdf', size: 1234, attachmentId: 'att1'}]);
  });

  test('read_message rejects an id that is not one (no request made)', async () => {
    const r = await call('read_message', {id: '../../settings'});
    assert.equal(r.isError, true);
    assert.equal(fake.requests.length, 0);
  });

  test('send_message: POST {raw, threadId} with a correct RFC 2822 message', async () => {
    fake.setRoute('POST /gmail/v1/users/me/messages/send', () => ({json: {id: 's1', threadId: 't1', labelIds: ['SENT']}}));
    const subject = 'Réunion — ünïcode 日本語 subject that is long enough to need more than one encoded word';
    const body = 'Line one\nLine two ✓\n';
    const r = await call('send_message', {
      to: ['Bob <bob@example.com>', 'carol@example.org'], cc: '"Doe, Jane" <jane@example.net>',
      from: 'Zoë <zoe@example.com>', subject, body, threadId: 't1', inReplyTo: '<orig@example.com>',
    });
    assert.ok(!r.isError, textOf(r));
    assert.deepEqual(JSON.parse(textOf(r)), {id: 's1', threadId: 't1', labelIds: ['SENT']});
    const req = fake.requests[0];
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/gmail/v1/users/me/messages/send');
    assert.equal(req.headers.authorization, `Bearer ${KEY}`);
    assert.match(req.headers['content-type'], /^application\/json/);
    assert.deepEqual(Object.keys(req.body).sort(), ['raw', 'threadId']);
    assert.equal(req.body.threadId, 't1');
    assert.match(req.body.raw, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    const raw = Buffer.from(req.body.raw, 'base64url').toString('latin1');
    assert.match(raw, /^[\x00-\x7f]*$/, 'the message itself is 7-bit');
    assert.ok(!/[^\r]\n/.test(raw) && !/\r[^\n]/.test(raw), 'CRLF line endings only');
    for (const line of raw.split('\r\n')) assert.ok(line.length <= 998, `line of ${line.length}`);
    const {headers, body: encodedBody} = parseRaw(raw);
    assert.equal(headers.from, '=?UTF-8?B?' + Buffer.from('Zoë').toString('base64') + '?= <zoe@example.com>');
    assert.equal(headers.to, 'Bob <bob@example.com>, carol@example.org');
    assert.equal(headers.cc, '"Doe, Jane" <jane@example.net>');
    assert.equal(decodeWords(headers.subject), subject);
    for (const word of headers.subject.split(' ')) assert.ok(word.length <= 75, word);
    assert.match(headers.date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    assert.ok(Math.abs(Date.parse(headers.date) - Date.now()) < 60000);
    assert.match(headers['message-id'], /^<[0-9a-f-]{36}@example\.com>$/);
    assert.equal(headers['in-reply-to'], '<orig@example.com>');
    assert.equal(headers.references, '<orig@example.com>');
    assert.equal(headers['mime-version'], '1.0');
    assert.equal(headers['content-type'], 'text/plain; charset=UTF-8');
    assert.equal(headers['content-transfer-encoding'], 'base64');
    assert.equal(Buffer.from(encodedBody.replace(/\r\n/g, ''), 'base64').toString('utf8'), 'Line one\r\nLine two ✓\r\n');
  });

  test('send_message refuses header injection and bad addresses without calling Gmail', async () => {
    for (const args of [
      {to: 'bob@example.com', subject: 'hi\r\nBcc: evil@example.com', body: 'x'},
      {to: 'bob@example.com\nBcc: evil@example.com', subject: 'hi', body: 'x'},
      {to: 'bob@example.com', cc: ['ok@example.com', 'x@y.z\r\n'], subject: 'hi', body: 'x'},
      {to: 'bob@example.com', subject: 'hi', body: 'x', inReplyTo: '<a@b>\r\nX-Evil: 1'},
      {to: 'not an address', subject: 'hi', body: 'x'},
    ]) {
      const r = await call('send_message', args);
      assert.equal(r.isError, true, JSON.stringify(args));
      assert.match(textOf(r), /invalid message|Invalid|invalid/, JSON.stringify(args));
    }
    assert.equal(fake.requests.length, 0);
  });

  test('upstream 401: one request, reported as an auth error without the key', async () => {
    fake.setRoute('GET /gmail/v1/users/me/messages', () => ({status: 401,
      json: {error: {code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED'}}}));
    const r = await call('list_messages', {});
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^gmail authentication failed \(401\): check the API key/);
    assert.ok(!textOf(r).includes(KEY));
    assert.equal(fake.requests.length, 1);
  });

  test('upstream 404: isError with status and message', async () => {
    fake.setRoute('GET /gmail/v1/users/me/messages/:id', () => ({status: 404,
      json: {error: {code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND'}}}));
    const r = await call('read_message', {id: 'missing1'});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'gmail API error 404: Requested entity was not found.');
    assert.equal(fake.requests.length, 1);
  });

  test('upstream 429 then 200: Retry-After honoured, two requests, success', async () => {
    let n = 0;
    fake.setRoute('POST /gmail/v1/users/me/messages/send', () => (++n === 1 ?
      {status: 429, headers: {'Retry-After': '1'}, json: {error: {code: 429, message: 'Rate Limit Exceeded'}}} :
      {json: {id: 's2', threadId: 't2', labelIds: ['SENT']}}));
    const t0 = Date.now();
    const r = await call('send_message', {to: 'bob@example.com', subject: 'hi', body: 'x'});
    const waited = Date.now() - t0;
    assert.ok(!r.isError, textOf(r));
    assert.equal(JSON.parse(textOf(r)).id, 's2');
    assert.equal(fake.requests.length, 2);
    assert.equal(fake.requests[0].body.raw, fake.requests[1].body.raw, 'the same message resent');
    assert.ok(waited >= 950, `waited only ${waited} ms`);
  });

  test('upstream timeout: isError "timeout", bounded by timeout_ms', async () => {
    fake.setRoute('GET /gmail/v1/users/me/messages', () => ({delayMs: 10000, json: {}}));
    const t0 = Date.now();
    const r = await call('list_messages', {});
    const took = Date.now() - t0;
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^gmail API error 0: timeout after 300 ms$/);
    assert.equal(fake.requests.length, 1 + CONFIG.retry_attempts);
    assert.ok(took < 3 * 300 + 1000, `took ${took} ms`);
    // The probe finds the API answering again (other paths are quick).
    await withTimeout((async () => {
      while ((await health(srv)).body.status !== 'healthy') await new Promise((res) => setTimeout(res, 20));
    })(), 3000, 'healthy again');
  });

  test('/health is degraded (200) while Gmail is unreachable and healthy after recovery', async () => {
    assert.deepEqual((await health(srv)).body.status, 'healthy');
    await fake.pause();
    try {
      const r = await call('list_messages', {});
      assert.equal(r.isError, true);
      assert.match(textOf(r), /^gmail API error 0: unreachable/);
      const h = await health(srv);
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'degraded');
      assert.match(h.body.reason, /gmail API unreachable/);
    } finally {
      await fake.resume();
    }
    await withTimeout((async () => {
      while ((await health(srv)).body.status !== 'healthy') await new Promise((res) => setTimeout(res, 20));
    })(), 3000, 'healthy after recovery');
    fake.setRoute('GET /gmail/v1/users/me/messages', () => ({json: {resultSizeEstimate: 0}}));
    assert.ok(!(await call('list_messages', {})).isError);
  });

  test('the key never appears in the server log', () => {
    assert.ok(srv.out.stdout.length > 0);
    assert.ok(!srv.out.stdout.includes(KEY));
    assert.ok(!srv.out.stderr.includes(KEY));
  });
});

describe('gmail MIME', () => {
  test('encoded words stay within 75 chars and never split a character', () => {
    const text = '😀'.repeat(40) + 'é'.repeat(30);
    const words = encodeWords(text).split('\r\n ');
    assert.ok(words.length > 1);
    for (const w of words) {
      assert.ok(w.length <= 75, w);
      const inner = /^=\?UTF-8\?B\?(.*)\?=$/.exec(w)[1];
      // Every word decodes to whole characters on its own.
      assert.ok(!Buffer.from(inner, 'base64').toString('utf8').includes('\ufffd'), w);
    }
    assert.equal(decodeWords(encodeWords(text)), text);
  });

  test('ASCII subjects stay plain; "=?" and non-ASCII are encoded', () => {
    const plain = parseRaw(buildMessage({to: 'a@b.co', subject: 'Plain subject', body: ''}));
    assert.equal(plain.headers.subject, 'Plain subject');
    const tricky = parseRaw(buildMessage({to: 'a@b.co', subject: 'looks =?like?= a word', body: ''}));
    assert.match(tricky.headers.subject, /^=\?UTF-8\?B\?/);
    assert.equal(decodeWords(tricky.headers.subject), 'looks =?like?= a word');
  });

  test('address lists: quoting, encoding, commas inside quotes, validation', () => {
    assert.equal(formatAddressList('to', 'a@b.co, "Last, First" <c@d.co>'), 'a@b.co,\r\n "Last, First" <c@d.co>');
    assert.equal(formatAddressList('to', ['Mr. X <x@y.co>']), '"Mr. X" <x@y.co>');
    assert.equal(formatAddressList('to', 'Zoë <z@y.co>'), `=?UTF-8?B?${Buffer.from('Zoë').toString('base64')}?= <z@y.co>`);
    assert.equal(formatAddressList('to', undefined), undefined);
    for (const bad of ['nobody', 'a@b.co>', '<a@b.co', 'a b@c.co', 'x@y.co\r\nBcc: e@v.il']) {
      assert.throws(() => formatAddressList('to', bad), MessageError, bad);
    }
    assert.throws(() => buildMessage({subject: 's', body: ''}), /recipient/);
  });

  test('decodeMessage falls back to text/html made plain and honours the part charset', () => {
    const latin1 = Buffer.from('café', 'latin1').toString('base64url');
    const m = decodeMessage({id: 'x', payload: {mimeType: 'multipart/alternative', headers: [], parts: [
      {mimeType: 'text/html', headers: [{name: 'Content-Type', value: 'text/html; charset=ISO-8859-1'}],
        body: {data: latin1}},
    ]}});
    assert.equal(m.body, 'café');
    const html = decodeMessage({payload: {mimeType: 'text/html', body: {data: b64url('<p>a &amp; b</p><p>c</p>')}}});
    assert.equal(html.body, 'a & b\nc');
  });
});
