// The slack type against a local fake of the Slack Web API: every tool's
// method, path, query, auth header and body, the answer mapping, Slack's
// HTTP-200 {ok:false} errors, an upstream 401, 404, 429-then-200, a timeout,
// and the auth.test health check (rejected token / unreachable -> degraded).
import {describe, test, before, after, beforeEach} from 'node:test';
import assert from 'node:assert/strict';
import {startFakeUpstream} from '../lib/fake_upstream.js';
import {spawnServer, waitHealthy, stopServer, connectClient, withTimeout} from '../lib/testing.js';

const KEY = 'xoxb-fake-0123456789-abcdefABCDEF';
const TIMEOUT_MS = 400;
const CONFIG = {retry_attempts: 2, retry_base_ms: 10, timeout_ms: TIMEOUT_MS, health_probe_ms: 50};
const AUTH_OK = {ok: true, url: 'https://acme.slack.com/', team: 'Acme', user: 'minibot', team_id: 'T1', user_id: 'U1'};

function textOf(result) {
  assert.equal(result.content?.[0]?.type, 'text', JSON.stringify(result));
  return result.content[0].text;
}
const jsonOf = (result) => {
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return JSON.parse(textOf(result));
};

async function health(srv) {
  return (await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(1000)})).json();
}

async function waitHealth(srv, status, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await health(srv);
    if (last.status === status) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`health not ${status} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

function startSlack(url, config = CONFIG) {
  return spawnServer('slack/server.js', {env: {API_KEY: KEY, SLACK_API_URL: url}, config});
}

describe('slack type', () => {
  let fake;
  let srv;
  let client;
  const call = (name, args) => withTimeout(client.callTool({name, arguments: args}), 10000, name);

  before(async () => {
    fake = await startFakeUpstream({'GET /api/auth.test': () => ({json: AUTH_OK})});
    srv = await startSlack(`${fake.url}/api`);
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake?.close();
    assert.ok(!srv.out.stdout.includes(KEY) && !srv.out.stderr.includes(KEY), 'the key leaked into the logs');
  });
  beforeEach(() => fake.clear());

  function only(method, path) {
    assert.equal(fake.requests.length, 1, JSON.stringify(fake.requests.map((r) => `${r.method} ${r.path}`)));
    const r = fake.requests[0];
    assert.equal(r.method, method);
    assert.equal(r.path, `/api${path}`);
    assert.equal(r.headers.authorization, `Bearer ${KEY}`);
    return r;
  }

  test('checks the token with auth.test at start and offers both tools', async () => {
    // auth.test runs once the listener is up, so it may still be in flight here.
    const deadline = Date.now() + 5000;
    while (!srv.out.stdout.includes('slack token verified') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(srv.out.stdout, /"msg":"slack token verified".*"team":"Acme"/);
    assert.equal((await health(srv)).status, 'healthy');
    const {tools} = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['list_channels', 'send_message']);
    const send = tools.find((t) => t.name === 'send_message').inputSchema;
    assert.deepEqual([...send.required].sort(), ['channel', 'text']);
  });

  test('list_channels sends types, limit, cursor and maps channels and next_cursor', async () => {
    fake.setRoute('GET /api/conversations.list', () => ({json: {ok: true,
      channels: [{id: 'C1', name: 'general', is_private: false, is_archived: false, is_member: true,
        num_members: 3, topic: {value: 'hi'}, created: 1}],
      response_metadata: {next_cursor: 'dXNlcjpVMEc5V0ZYTlo='}}}));
    const page = jsonOf(await call('list_channels',
        {types: ['public_channel', 'private_channel'], limit: 50, cursor: 'abc', exclude_archived: true}));
    assert.deepEqual(only('GET', '/conversations.list').query,
        {types: 'public_channel,private_channel', limit: '50', cursor: 'abc', exclude_archived: 'true'});
    assert.deepEqual(page, {channels: [{id: 'C1', name: 'general', is_private: false, is_archived: false,
      is_member: true, num_members: 3, topic: 'hi'}], next_cursor: 'dXNlcjpVMEc5V0ZYTlo='});

    fake.clear();
    fake.setRoute('GET /api/conversations.list', () => ({json: {ok: true, channels: [], response_metadata: {next_cursor: ''}}}));
    assert.deepEqual(jsonOf(await call('list_channels', {})), {channels: []});
    assert.deepEqual(only('GET', '/conversations.list').query, {types: 'public_channel', limit: '100'});
  });

  test('send_message posts JSON with channel, text and thread_ts', async () => {
    fake.setRoute('POST /api/chat.postMessage', (req) => ({json: {ok: true, channel: 'C1', ts: '1700000001.000200',
      message: {text: req.body.text, thread_ts: req.body.thread_ts}}}));
    const sent = jsonOf(await call('send_message', {channel: 'C1', text: 'héllo *world*', thread_ts: '1700000000.000100'}));
    const r = only('POST', '/chat.postMessage');
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(r.body, {channel: 'C1', text: 'héllo *world*', thread_ts: '1700000000.000100'});
    assert.deepEqual(sent, {channel: 'C1', ts: '1700000001.000200', thread_ts: '1700000000.000100'});
  });

  test('Slack\'s {ok:false} answers are tool errors; invalid_auth is an auth error, sent once', async () => {
    fake.setRoute('POST /api/chat.postMessage', () => ({json: {ok: false, error: 'channel_not_found'}}));
    const missing = await call('send_message', {channel: 'C404', text: 'x'});
    assert.equal(missing.isError, true);
    assert.equal(textOf(missing), 'Slack API error: channel_not_found');

    fake.clear();
    fake.setRoute('GET /api/conversations.list', () => ({json: {ok: false, error: 'missing_scope', needed: 'groups:read'}}));
    assert.equal(textOf(await call('list_channels', {types: ['private_channel']})),
        'Slack API error: missing_scope (needs scope groups:read)');

    fake.clear();
    fake.setRoute('GET /api/conversations.list', () => ({json: {ok: false, error: 'invalid_auth'}}));
    const bad = await call('list_channels', {});
    assert.equal(bad.isError, true);
    assert.match(textOf(bad), /^Slack authentication failed \(401\): check the API key \(invalid_auth\)/);
    assert.equal(fake.requests.length, 1);
  });

  test('an upstream HTTP 401 is an auth error, sent once', async () => {
    fake.setRoute('POST /api/chat.postMessage', () => ({status: 401, json: {ok: false, error: 'not_authed'}}));
    const r = await call('send_message', {channel: 'C1', text: 'x'});
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^Slack authentication failed \(401\): check the API key/);
    assert.ok(!textOf(r).includes(KEY));
    assert.equal(fake.requests.length, 1);
  });

  test('an upstream 404 is a tool error with status and message, not retried', async () => {
    fake.setRoute('GET /api/conversations.list', () => ({status: 404, json: {ok: false, error: 'unknown_method'}}));
    const r = await call('list_channels', {});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'Slack API error 404: unknown_method');
    assert.equal(fake.requests.length, 1);
  });

  test('429 then 200: retried after Retry-After, the message is posted once', async () => {
    let n = 0;
    fake.setRoute('POST /api/chat.postMessage', () => (++n === 1 ?
      {status: 429, headers: {'Retry-After': '1'}, json: {ok: false, error: 'ratelimited'}} :
      {json: {ok: true, channel: 'C1', ts: '1.2', message: {}}}));
    const t0 = Date.now();
    assert.deepEqual(jsonOf(await call('send_message', {channel: 'C1', text: 'x'})), {channel: 'C1', ts: '1.2'});
    assert.equal(fake.requests.length, 2);
    assert.ok(Date.now() - t0 >= 900, `retried after ${Date.now() - t0} ms, before Retry-After`);
  });

  test('a timeout is a tool error; a post is not resent; /health degrades and recovers', async () => {
    fake.setRoute('POST /api/chat.postMessage', () => ({delayMs: 5000, json: {ok: true}}));
    const r = await call('send_message', {channel: 'C1', text: 'x'});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), `Slack API error 0: timeout after ${TIMEOUT_MS} ms`);
    // Slack may have posted it: resending could post it twice.
    assert.equal(fake.requests.filter((q) => q.path === '/api/chat.postMessage').length, 1);
    assert.match((await waitHealth(srv, 'degraded')).reason, /Slack API unreachable: timeout/);
    await waitHealth(srv, 'healthy');
  });
});

describe('slack health check (auth.test)', () => {
  test('a rejected token makes /health degraded (200), not unhealthy', async () => {
    const fake = await startFakeUpstream({'GET /api/auth.test': () => ({json: {ok: false, error: 'token_revoked'}})});
    const srv = await startSlack(`${fake.url}/api`);
    try {
      await waitHealthy(srv);
      const h = await waitHealth(srv, 'degraded');
      assert.match(h.reason, /Slack rejected the bot token \(token_revoked\)/);
      assert.equal(fake.requests.length, 1); // not retried
      const r = await fetch(`${srv.url}/health`);
      assert.equal(r.status, 200);
    } finally {
      await stopServer(srv);
      await fake.close();
    }
  });

  test('an unreachable Slack makes /health degraded; it recovers when Slack answers', async () => {
    const fake = await startFakeUpstream({'GET /api/auth.test': () => ({json: AUTH_OK})});
    await fake.pause(); // connections refused
    const srv = await startSlack(`${fake.url}/api`, {...CONFIG, health_check_interval_ms: 100});
    try {
      await waitHealthy(srv);
      assert.match((await waitHealth(srv, 'degraded')).reason, /Slack API unreachable/);
      await fake.resume();
      await waitHealth(srv, 'healthy');
    } finally {
      await stopServer(srv);
      await fake.close();
    }
  });
});
