// lib/upstream.js policy against lib/fake_upstream.js, in process.
import {describe, test, before, after, beforeEach} from 'node:test';
import assert from 'node:assert/strict';
import {createUpstream, UpstreamError, toolError, withToolErrors, parseRetryAfter} from '../lib/upstream.js';
import {startFakeUpstream} from '../lib/fake_upstream.js';

const CONFIG = {retry_attempts: 2, timeout_ms: 300, retry_base_ms: 10, health_probe_ms: 50};

function fakeHealth() {
  const changes = [];
  return {
    mode: 'ok',
    reason: undefined,
    changes,
    setMode(mode, reason) {
      this.mode = mode;
      this.reason = reason;
      changes.push(mode);
    },
  };
}

async function waitFor(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('createUpstream', () => {
  let fake;
  let health;
  let up;
  before(async () => {
    fake = await startFakeUpstream();
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    up?.close();
    fake.clear();
    health = fakeHealth();
    up = createUpstream({
      service: 'demo', baseUrl: `${fake.url}/`, authHeaders: () => ({Authorization: 'Bearer k-123456789'}),
      config: CONFIG, health,
    });
  });

  test('sends method, path, query (arrays repeated), auth header and JSON body; parses the answer', async () => {
    fake.setRoute('POST /v1/things/:id', (req) => ({status: 201, json: {got: req.params.id}}));
    const out = await up.request('POST', '/v1/things/a%20b', {query: {x: 1, tag: ['p', 'q'], skip: undefined}, body: {k: 'v'}});
    assert.deepEqual(out, {got: 'a b'});
    assert.equal(fake.requests.length, 1);
    const r = fake.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/things/a%20b');
    assert.deepEqual(r.query, {x: '1', tag: ['p', 'q']});
    assert.equal(r.headers.authorization, 'Bearer k-123456789');
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(r.body, {k: 'v'});
  });

  test('empty 204 answers resolve to null', async () => {
    fake.setRoute('DELETE /v1/x', () => ({status: 204}));
    assert.equal(await up.request('DELETE', '/v1/x'), null);
  });

  test('401 is an auth error after exactly one request', async () => {
    fake.setRoute('GET /v1/me', () => ({status: 401, json: {error: {code: 401, message: 'Invalid Credentials'}}}));
    const err = await up.request('GET', '/v1/me').catch((e) => e);
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 401);
    assert.equal(err.auth, true);
    assert.equal(fake.requests.length, 1);
    const r = toolError(err);
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /^demo authentication failed \(401\): check the API key/);
    assert.ok(!r.content[0].text.includes('k-123456789'));
  });

  test('404 carries the upstream status and message, not retried', async () => {
    fake.setRoute('GET /v1/nope', () => ({status: 404, json: {status: 404, err: 'Not found'}}));
    const err = await up.request('GET', '/v1/nope').catch((e) => e);
    assert.equal(err.status, 404);
    assert.equal(err.auth, false);
    assert.equal(toolError(err).content[0].text, 'demo API error 404: Not found');
    assert.equal(fake.requests.length, 1);
  });

  test('429 then 200: Retry-After is honoured', async () => {
    let n = 0;
    fake.setRoute('GET /v1/limited', () => (++n === 1 ?
      {status: 429, headers: {'Retry-After': '1'}, json: {message: 'slow down'}} : {json: {ok: true}}));
    const t0 = Date.now();
    assert.deepEqual(await up.request('GET', '/v1/limited'), {ok: true});
    const waited = Date.now() - t0;
    assert.equal(fake.requests.length, 2);
    // retry_base_ms is 10: only Retry-After explains a wait of about a second.
    assert.ok(waited >= 950 && waited < 3000, `waited ${waited} ms`);
  });

  test('5xx retried retry_attempts times, then the last status is reported', async () => {
    fake.setRoute('GET /v1/broken', () => ({status: 502, json: {error: {message: 'bad gateway'}}}));
    const err = await up.request('GET', '/v1/broken').catch((e) => e);
    assert.equal(err.status, 502);
    assert.equal(err.message, 'bad gateway');
    assert.equal(fake.requests.length, 1 + CONFIG.retry_attempts);
  });

  test('a POST is not resent after a 500 or a timeout (it may have been acted on), but is after 429', async () => {
    fake.setRoute('POST /v1/send', () => ({status: 500, json: {message: 'oops'}}));
    assert.equal((await up.request('POST', '/v1/send', {body: {}}).catch((e) => e)).status, 500);
    assert.equal(fake.requests.length, 1);

    fake.clear();
    fake.setRoute('POST /v1/send', () => ({delayMs: 2000, json: {}}));
    const err = await up.request('POST', '/v1/send', {body: {}}).catch((e) => e);
    assert.equal(err.status, 0);
    assert.equal(fake.requests.length, 1);

    fake.clear();
    let n = 0;
    fake.setRoute('POST /v1/send', () => (++n === 1 ? {status: 429, headers: {'Retry-After': '0'}} : {json: {id: 1}}));
    assert.deepEqual(await up.request('POST', '/v1/send', {body: {}}), {id: 1});
    assert.equal(fake.requests.length, 2);
  });

  test('a Retry-After beyond the cap fails at once instead of waiting', async () => {
    fake.setRoute('GET /v1/later', () => ({status: 429, headers: {'Retry-After': '3600'}, json: {message: 'quota'}}));
    const t0 = Date.now();
    const err = await up.request('GET', '/v1/later').catch((e) => e);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(err.status, 429);
    assert.match(toolError(err).content[0].text, /^demo API error 429: quota \(retry after 3600 s\)$/);
    assert.equal(fake.requests.length, 1);
  });

  test('a rate-limit 403 (GitHub secondary limit) is retried, not an auth error', async () => {
    let n = 0;
    fake.setRoute('GET /v1/rl', () => (++n === 1 ?
      {status: 403, headers: {'Retry-After': '0'}, json: {message: 'secondary rate limit'}} : {json: []}));
    assert.deepEqual(await up.request('GET', '/v1/rl'), []);
    assert.equal(fake.requests.length, 2);
  });

  test('timeout: each attempt bounded by timeout_ms, then status 0 "timeout" and degraded', async () => {
    fake.setRoute('GET /v1/slow', () => ({delayMs: 5000, json: {}}));
    const t0 = Date.now();
    const err = await up.request('GET', '/v1/slow').catch((e) => e);
    const took = Date.now() - t0;
    assert.equal(err.status, 0);
    assert.match(err.message, /^timeout after 300 ms$/);
    assert.equal(fake.requests.length, 1 + CONFIG.retry_attempts);
    assert.ok(took >= 900 && took < 2500, `took ${took} ms`);
    assert.equal(toolError(err).content[0].text, 'demo API error 0: timeout after 300 ms');
    assert.equal(health.mode, 'degraded');
    // The probe gets an HTTP answer (the slow route is only for /v1/slow) and recovers.
    await waitFor(() => health.mode === 'ok', 2000, 'recovery');
  });

  test('unreachable upstream: degraded, then healthy once it is back (probe, no tool call)', async () => {
    await fake.pause();
    try {
      const err = await up.request('GET', '/v1/anything').catch((e) => e);
      assert.equal(err.status, 0);
      assert.match(err.message, /^unreachable \(ECONNREFUSED\)$/);
      assert.equal(health.mode, 'degraded');
      assert.match(health.reason, /demo API unreachable/);
    } finally {
      await fake.resume();
    }
    await waitFor(() => health.mode === 'ok', 2000, 'recovery');
    assert.deepEqual(health.changes, ['degraded', 'ok']);
  });

  test('degraded never overrides a stronger health mode', async () => {
    health.mode = 'unhealthy';
    await fake.pause();
    try {
      await up.request('GET', '/v1/x').catch(() => {});
    } finally {
      await fake.resume();
    }
    assert.equal(health.mode, 'unhealthy');
    assert.deepEqual(health.changes, []);
  });

  test('fetch(): the same policy for npm clients, returns the final Response whatever its status', async () => {
    let n = 0;
    fake.setRoute('GET /api/x', () => (++n === 1 ? {status: 503, headers: {'Retry-After': '0'}} : {json: {ok: 1}}));
    const res = await up.fetch(`${fake.url}/api/x`, {headers: {authorization: 'token t'}});
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {ok: 1});
    assert.equal(fake.requests.length, 2);
    assert.equal(fake.requests[1].headers.authorization, 'token t');
    fake.setRoute('GET /api/y', () => ({status: 401, json: {message: 'Bad credentials'}}));
    const r401 = await up.fetch(`${fake.url}/api/y`);
    assert.equal(r401.status, 401);
    await r401.body?.cancel();
    assert.equal(fake.requests.length, 3);
  });

  test('withToolErrors maps UpstreamError and status-carrying client errors to isError results', async () => {
    const wrapped = withToolErrors(async () => {
      throw new UpstreamError('demo', 404, 'Not Found');
    });
    assert.deepEqual(await wrapped({}, {}), {isError: true, content: [{type: 'text', text: 'demo API error 404: Not Found'}]});
    const octo = Object.assign(new Error('Bad credentials'), {status: 401, response: {data: {message: 'Bad credentials'}}});
    const r = await withToolErrors(async () => { throw octo; }, {service: 'github'})({}, {});
    assert.match(r.content[0].text, /^github authentication failed \(401\)/);
    const wrappedCause = new Error('request failed', {cause: new UpstreamError('demo', 0, 'unreachable (ECONNREFUSED)')});
    assert.equal(toolError(wrappedCause).content[0].text, 'demo API error 0: unreachable (ECONNREFUSED)');
    const ok = await withToolErrors(async (a) => ({content: [{type: 'text', text: a.x}]}))({x: 'fine'}, {});
    assert.equal(ok.content[0].text, 'fine');
  });
});

test('parseRetryAfter: seconds, HTTP date, garbage', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter(' 0 '), 0);
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});

test('fake upstream: unmatched routes 404, handlers that throw 500, destroy drops the connection', async () => {
  const fake = await startFakeUpstream({'GET /boom': () => { throw new Error('x'); }, 'GET /drop': () => ({destroy: true})});
  try {
    assert.equal((await fetch(`${fake.url}/none`)).status, 404);
    assert.equal((await fetch(`${fake.url}/boom`)).status, 500);
    await assert.rejects(fetch(`${fake.url}/drop`));
    assert.deepEqual(fake.requests.map((r) => r.path), ['/none', '/boom', '/drop']);
  } finally {
    await fake.close();
  }
});

test('a body that stops arriving is bounded by timeout_ms too', async () => {
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    res.writeHead(200, {'Content-Type': 'application/json'});
    res.write('{"partial":'); // and never the rest
  });
  await new Promise((r) => srv.listen({host: '127.0.0.1', port: 0}, r));
  const up = createUpstream({service: 'demo', baseUrl: `http://127.0.0.1:${srv.address().port}`,
    config: {timeout_ms: 200, retry_attempts: 0}});
  try {
    const t0 = Date.now();
    const err = await up.request('GET', '/x').catch((e) => e);
    assert.ok(err instanceof UpstreamError, String(err));
    assert.equal(err.status, 0);
    assert.equal(err.message, 'timeout after 200 ms');
    assert.ok(Date.now() - t0 < 1500);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});
