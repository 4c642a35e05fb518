import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {LoggingMessageNotificationSchema} from '@modelcontextprotocol/sdk/types.js';
import {spawnServer, waitHealthy, stopServer, connectClient, connectClientV2, withTimeout, freePort} from '../lib/testing.js';

const ECHO = 'echo/server.js';
const INIT = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: {protocolVersion: '2025-06-18', capabilities: {}, clientInfo: {name: 'raw', version: '0'}},
};
const MCP_HEADERS = {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'};

function textOf(result) {
  assert.equal(result.content?.[0]?.type, 'text', JSON.stringify(result));
  return result.content[0].text;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

async function rawInit(srv, headers = {}) {
  const r = await fetch(`${srv.url}/mcp`, {
    method: 'POST', headers: {...MCP_HEADERS, Authorization: `Bearer ${srv.token}`, ...headers},
    body: JSON.stringify(INIT), signal: AbortSignal.timeout(3000),
  });
  await r.text();
  return r;
}

function connectOutcome(host, port) {
  return withTimeout(new Promise((resolve) => {
    const s = net.connect({host, port});
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e) => resolve(e.code));
  }), 3000, `connect ${host}:${port}`);
}

describe('echo server without test hooks', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await spawnServer(ECHO);
    await waitHealthy(srv);
  });
  after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await stopServer(srv);
  });

  test('/health answers without auth and reveals nothing secret', async () => {
    const r = await fetch(`${srv.url}/health`);
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.status, 'healthy');
    assert.equal(body.mcpId, 'test-instance');
    assert.equal(typeof body.uptimeSeconds, 'number');
    assert.deepEqual(Object.keys(body).sort(), ['mcpId', 'status', 'uptimeSeconds']);
  });

  test('tools/list has only echo and echo returns its text unchanged', async () => {
    const c = await connectClient(srv);
    clients.push(c);
    const {tools} = await c.client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['echo']);
    const s = 'héllo, wörld \n {"json": true} ';
    assert.equal(textOf(await c.client.callTool({name: 'echo', arguments: {text: s}})), s);
    // An unknown tool is a protocol error (-32602), as the spec says, not a tool result.
    await assert.rejects(c.client.callTool({name: 'crash', arguments: {}}), (e) => e.code === -32602);
  });

  test('2026-07-28: a pinned SDK v2 client discovers and calls echo without a session', async () => {
    const c = await connectClientV2(srv);
    clients.push(c);
    assert.equal(c.client.getProtocolEra(), 'modern');
    assert.equal(c.client.getNegotiatedProtocolVersion(), '2026-07-28');
    const {tools} = await c.client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['echo']);
    assert.equal(textOf(await c.client.callTool({name: 'echo', arguments: {text: 'modern'}})), 'modern');
    assert.equal(c.transport.sessionId, undefined);
    assert.equal(c.client.getServerVersion()?.name, 'echo');
  });

  test('2026-07-28 on the wire: server/discover and tools/call answer one POST each, no session id', async () => {
    const envelope = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': {name: 'raw', version: '0'},
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const post = (body, extra = {}) => fetch(`${srv.url}/mcp`, {
      method: 'POST',
      headers: {...MCP_HEADERS, Authorization: `Bearer ${srv.token}`, 'MCP-Protocol-Version': '2026-07-28', ...extra},
      body: JSON.stringify(body), signal: AbortSignal.timeout(3000),
    });
    const d = await post({jsonrpc: '2.0', id: 1, method: 'server/discover', params: {_meta: envelope}},
        {'Mcp-Method': 'server/discover'});
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('mcp-session-id'), null);
    const discovered = await d.json();
    assert.ok(discovered.result.supportedVersions.includes('2026-07-28'), JSON.stringify(discovered));
    assert.equal(discovered.result._meta['io.modelcontextprotocol/serverInfo'].name, 'echo');
    const r = await post({jsonrpc: '2.0', id: 2, method: 'tools/call',
      params: {name: 'echo', arguments: {text: 'raw'}, _meta: envelope}},
    {'Mcp-Method': 'tools/call', 'Mcp-Name': 'echo'});
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('mcp-session-id'), null);
    assert.equal((await r.json()).result.content[0].text, 'raw');
    // Without the token it is refused like any other request.
    const denied = await post({jsonrpc: '2.0', id: 3, method: 'server/discover', params: {_meta: envelope}},
        {'Mcp-Method': 'server/discover', 'Authorization': 'Bearer wrong'});
    assert.equal(denied.status, 401);
  });

  test('an SDK v2 client in auto mode negotiates 2026-07-28', async () => {
    const c = await connectClientV2(srv, {mode: 'auto'});
    clients.push(c);
    assert.equal(c.client.getProtocolEra(), 'modern');
    assert.equal(textOf(await c.client.callTool({name: 'echo', arguments: {text: 'auto'}})), 'auto');
  });

  test('/mcp without a valid token answers 401', async () => {
    for (const auth of [undefined, 'Bearer wrong-token', `Basic ${srv.token}`, `Bearer ${srv.token}x`]) {
      const headers = {...MCP_HEADERS, ...(auth ? {Authorization: auth} : {})};
      const r = await fetch(`${srv.url}/mcp`, {method: 'POST', headers, body: JSON.stringify(INIT)});
      assert.equal(r.status, 401, String(auth));
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
      const body = await r.json();
      assert.equal(body.error.code, -32000);
    }
    const g = await fetch(`${srv.url}/mcp`, {method: 'GET', headers: {Accept: 'text/event-stream'}});
    assert.equal(g.status, 401);
    await g.body?.cancel();
  });

  test('a Host other than a loopback name answers 403 (DNS rebinding), before the token is looked at', async () => {
    const r = await new Promise((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: srv.port, path: '/mcp', method: 'POST',
        headers: {...MCP_HEADERS, Host: `rebound.example:${srv.port}`, Authorization: `Bearer ${srv.token}`}},
      (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      });
      req.on('error', reject);
      req.end(JSON.stringify(INIT));
    });
    assert.equal(r.statusCode, 403);
    assert.equal((await rawInit(srv, {})).status, 200);
  });

  test('a bad Origin answers 403, a loopback Origin is accepted', async () => {
    const bad = await rawInit(srv, {Origin: 'http://evil.example'});
    assert.equal(bad.status, 403);
    const good = await rawInit(srv, {Origin: `http://localhost:${srv.port}`});
    assert.equal(good.status, 200);
    assert.ok(good.headers.get('mcp-session-id'));
  });

  test('sessions: unknown id 404, no id and not initialize 400, DELETE ends the session', async () => {
    const auth = {Authorization: `Bearer ${srv.token}`};
    const list = JSON.stringify({jsonrpc: '2.0', id: 2, method: 'tools/list'});
    const unknown = await fetch(`${srv.url}/mcp`, {
      method: 'POST', headers: {...MCP_HEADERS, ...auth, 'Mcp-Session-Id': 'nope'}, body: list});
    assert.equal(unknown.status, 404);
    const noId = await fetch(`${srv.url}/mcp`, {method: 'POST', headers: {...MCP_HEADERS, ...auth}, body: list});
    assert.equal(noId.status, 400);

    const c = await connectClient(srv);
    const sid = c.transport.sessionId;
    assert.ok(sid);
    await c.transport.terminateSession();
    const after = await fetch(`${srv.url}/mcp`, {
      method: 'POST', headers: {...MCP_HEADERS, ...auth, 'Mcp-Session-Id': sid}, body: list});
    assert.equal(after.status, 404);
    await c.client.close();
  });

  test('malformed and oversized bodies are refused', async () => {
    const auth = {Authorization: `Bearer ${srv.token}`};
    const bad = await fetch(`${srv.url}/mcp`, {method: 'POST', headers: {...MCP_HEADERS, ...auth}, body: '{not json'});
    assert.equal(bad.status, 400);
    const big = await fetch(`${srv.url}/mcp`, {
      method: 'POST', headers: {...MCP_HEADERS, ...auth}, body: 'x'.repeat(5 * 1024 * 1024)});
    assert.equal(big.status, 413);
  });

  test('listens on 127.0.0.1 only', async () => {
    assert.equal(await connectOutcome('127.0.0.1', srv.port), 'connected');
    // Another loopback address: a wildcard bind would accept it.
    assert.equal(await connectOutcome('127.0.0.2', srv.port), 'ECONNREFUSED');
    const table = readFileSync('/proc/net/tcp', 'utf8');
    const portHex = srv.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = table.split('\n').filter((l) => l.includes(`:${portHex} `) && / 0A /.test(l));
    assert.equal(listening.length, 1, table);
    assert.match(listening[0], new RegExp(`0100007F:${portHex} `));
  });

  test('the token never appears in its log output', () => {
    assert.ok(srv.out.stdout.length > 0);
    assert.ok(!srv.out.stdout.includes(srv.token));
    assert.ok(!srv.out.stderr.includes(srv.token));
    for (const line of srv.out.stdout.trim().split('\n')) JSON.parse(line);
  });
});

describe('echo server with test hooks', () => {
  let srv;
  let c;
  before(async () => {
    srv = await spawnServer(ECHO, {config: {testHooks: true}});
    await waitHealthy(srv);
    c = await connectClient(srv);
  });
  after(async () => {
    await c?.client.close().catch(() => {});
    await stopServer(srv);
  });

  test('hooks are listed', async () => {
    const {tools} = await c.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['allocate', 'crash', 'echo', 'hang', 'stream']);
  });

  test('stream sends progress and log notifications before its result', async () => {
    const progress = [];
    const logs = [];
    c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push({t: Date.now(), ...n.params}));
    const t0 = Date.now();
    const result = await c.client.callTool({name: 'stream', arguments: {count: 4, intervalMs: 100}}, undefined, {
      onprogress: (p) => progress.push({t: Date.now(), ...p}),
    });
    const tEnd = Date.now();
    assert.equal(textOf(result), 'streamed 4');
    assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3, 4]);
    assert.equal(progress[0].total, 4);
    assert.deepEqual(logs.map((l) => l.data.tick), [1, 2, 3, 4]);
    // Delivered as they happen, not batched with the result.
    assert.ok(progress[0].t - t0 < tEnd - t0 - 200, JSON.stringify({progress, t0, tEnd}));
  });

  test('2026-07-28: stream delivers its progress notifications before the result', async () => {
    const v2 = await connectClientV2(srv);
    try {
      const progress = [];
      const t0 = Date.now();
      const result = await v2.client.callTool({name: 'stream', arguments: {count: 3, intervalMs: 100}}, {
        onprogress: (p) => progress.push({t: Date.now(), ...p}),
      });
      const tEnd = Date.now();
      assert.equal(textOf(result), 'streamed 3');
      assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3]);
      assert.ok(progress[0].t - t0 < tEnd - t0 - 100, JSON.stringify({progress, t0, tEnd}));
    } finally {
      await v2.client.close();
    }
  });

  test('hang stops /health answering; unhealthy gives 503; ok recovers', async () => {
    assert.equal(textOf(await c.client.callTool({name: 'hang', arguments: {}})), 'health mode hang');
    await assert.rejects(fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(300)}), {name: 'TimeoutError'});
    await c.client.callTool({name: 'hang', arguments: {mode: 'unhealthy'}});
    const u = await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(2000)});
    assert.equal(u.status, 503);
    assert.equal((await u.json()).status, 'unhealthy');
    await c.client.callTool({name: 'hang', arguments: {mode: 'ok'}});
    const ok = await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(2000)});
    assert.equal(ok.status, 200);
  });

  test('allocate grows resident memory', async () => {
    const before = rssKiB(srv.pid);
    assert.equal(textOf(await c.client.callTool({name: 'allocate', arguments: {mib: 64}})), 'holding 64 MiB');
    const grown = rssKiB(srv.pid) - before;
    assert.ok(grown >= 60 * 1024, `RSS grew by ${grown} KiB`);
  });
});

describe('echo server process lifecycle', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await stopServer(s);
  });
  async function start(opts) {
    const s = await spawnServer(ECHO, opts);
    servers.push(s);
    return s;
  }

  test('crash exits with the given code', async () => {
    const s = await start({config: {testHooks: true}});
    await waitHealthy(s);
    const {client} = await connectClient(s);
    const r = await client.callTool({name: 'crash', arguments: {code: 7}});
    assert.equal(textOf(r), 'exiting with code 7');
    assert.deepEqual(await withTimeout(s.exited, 3000, 'exit'), {code: 7, signal: null});
    await client.close().catch(() => {});
  });

  test('crash with a signal dies by that signal', async () => {
    const s = await start({config: {testHooks: true}});
    await waitHealthy(s);
    const {client} = await connectClient(s);
    await client.callTool({name: 'crash', arguments: {signal: 'SIGKILL'}});
    assert.deepEqual(await withTimeout(s.exited, 3000, 'exit'), {code: null, signal: 'SIGKILL'});
    await client.close().catch(() => {});
  });

  test('SIGTERM with open SSE streams exits 0 within 2 s and ends the streams', async () => {
    const s = await start({config: {testHooks: true}});
    await waitHealthy(s);
    // The SDK client holds its session's standalone GET stream; a second, raw
    // session holds another one by hand so the test can watch it end.
    const {client} = await connectClient(s);
    const init = await rawInit(s);
    const sid = init.headers.get('mcp-session-id');
    const auth = {'Authorization': `Bearer ${s.token}`, 'Mcp-Session-Id': sid};
    const note = await fetch(`${s.url}/mcp`, {method: 'POST', headers: {...MCP_HEADERS, ...auth},
      body: JSON.stringify({jsonrpc: '2.0', method: 'notifications/initialized'})});
    assert.equal(note.status, 202);
    const get = await fetch(`${s.url}/mcp`, {headers: {'Accept': 'text/event-stream', ...auth}});
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type'), /^text\/event-stream/);
    const reader = get.body.getReader();
    let sawTick = false;
    const inflight = client.callTool({name: 'stream', arguments: {count: 1000, intervalMs: 50}}, undefined, {
      onprogress: () => { sawTick = true; },
    }).catch((e) => e);
    // Wait for the in-flight call to be streaming before the signal.
    const t0 = Date.now();
    while (!sawTick) {
      assert.ok(Date.now() - t0 < 3000, 'stream tool never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    const tSig = Date.now();
    process.kill(s.pid, 'SIGTERM');
    const exit = await withTimeout(s.exited, 2000, 'exit after SIGTERM');
    assert.deepEqual(exit, {code: 0, signal: null});
    assert.ok(Date.now() - tSig < 2000);
    // The held stream ends (cleanly or by reset) instead of hanging.
    await withTimeout((async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch { /* reset is fine too */ }
    })(), 2000, 'SSE stream end');
    // In-flight calls are answered with an error rather than left to the client's timeout.
    const outcome = await withTimeout(inflight, 2000, 'in-flight call to settle');
    assert.ok(outcome instanceof Error, String(outcome));
    assert.match(outcome.message, /Server shutting down/);
    await client.close().catch(() => {});
  });

  test('SIGTERM during a 2026-07-28 streaming call exits 0 within 2 s and the call settles with an error', async () => {
    const s = await start({config: {testHooks: true}});
    await waitHealthy(s);
    const {client} = await connectClientV2(s);
    let sawTick = false;
    const inflight = client.callTool({name: 'stream', arguments: {count: 1000, intervalMs: 50}}, {
      onprogress: () => { sawTick = true; },
    }).catch((e) => e);
    const t0 = Date.now();
    while (!sawTick) {
      assert.ok(Date.now() - t0 < 3000, 'stream tool never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    const tSig = Date.now();
    process.kill(s.pid, 'SIGTERM');
    assert.deepEqual(await withTimeout(s.exited, 2000, 'exit after SIGTERM'), {code: 0, signal: null});
    assert.ok(Date.now() - tSig < 2000);
    const outcome = await withTimeout(inflight, 2000, 'in-flight call to settle');
    assert.ok(outcome instanceof Error, String(outcome));
    assert.match(outcome.message, /Server shutting down/);
    await client.close().catch(() => {});
  });

  test('session limit answers 503; idle sessions without open streams are reaped', async () => {
    const s = await start({config: {maxSessions: 1, sessionIdleTimeoutMs: 300}});
    await waitHealthy(s);
    const a = await rawInit(s);
    assert.equal(a.status, 200);
    const sid = a.headers.get('mcp-session-id');
    assert.equal((await rawInit(s)).status, 503);
    const list = JSON.stringify({jsonrpc: '2.0', id: 2, method: 'tools/list'});
    const headers = {...MCP_HEADERS, 'Authorization': `Bearer ${s.token}`, 'Mcp-Session-Id': sid};
    // Any request would refresh the session, so watch the server's log instead.
    const deadline = Date.now() + 5000;
    while (!s.out.stdout.includes('closing idle session')) {
      assert.ok(Date.now() < deadline, 'idle session never reaped');
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await fetch(`${s.url}/mcp`, {method: 'POST', headers, body: list});
    await r.body?.cancel();
    const status = r.status;
    assert.equal(status, 404);
    assert.equal((await rawInit(s)).status, 200);
  });

  test('refuses to start without PORT or MCP_ACCESS_TOKEN, or with bad MCP_CONFIG (exit 2)', async () => {
    for (const env of [{PORT: undefined}, {MCP_ACCESS_TOKEN: undefined}, {MCP_CONFIG: '{nope'}]) {
      const s = await start({env});
      const exit = await withTimeout(s.exited, 5000, 'exit');
      assert.deepEqual(exit, {code: 2, signal: null}, JSON.stringify(env));
      assert.match(s.out.stderr, /refusing to start/);
    }
  });

  test('exits 3 when the port is taken', async () => {
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen({host: '127.0.0.1', port}, r));
    try {
      const s = await start({port});
      assert.deepEqual(await withTimeout(s.exited, 5000, 'exit'), {code: 3, signal: null});
      assert.match(s.out.stderr, /cannot listen/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
