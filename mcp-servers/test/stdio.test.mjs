// stdio types: the filesystem MCPType, launched exactly as its manifest says
// (lib/stdio_bridge.js in front of @modelcontextprotocol/server-filesystem),
// lists and reads files through the bridge with the SDK Client; the instance
// token and Origin checks apply; the child stays confined to config.root.
import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StreamableHTTPClientTransport} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {ListRootsRequestSchema} from '@modelcontextprotocol/sdk/types.js';
import {SERVERS_DIR, freePort, waitHealthy, stopServer, connectClient, connectClientV2, withTimeout} from '../lib/testing.js';

const TOKEN = 'stdio-test-token-0123456789';
const INIT = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: {protocolVersion: '2025-06-18', capabilities: {}, clientInfo: {name: 'raw', version: '0'}},
};
const MCP_HEADERS = {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'};

// The manifest's launch line: mcpd runs `command args...` from it unchanged.
function manifestLaunch(type = 'filesystem') {
  const y = readFileSync(path.join(SERVERS_DIR, type, 'mcptype.yaml'), 'utf8');
  const command = /^\s+command: (\S+)$/m.exec(y)[1];
  const args = JSON.parse(/^\s+args: (\[.*\])$/m.exec(y)[1]);
  assert.match(y, /^\s+transport: stdio$/m);
  return {command, args};
}

// lib/testing.js spawnServer runs `node <script>` only; a stdio type needs the
// bridge's arguments too, so this starts the manifest's line with the same
// from-nothing environment and returns the same shape.
async function spawnFilesystem(config, type = 'filesystem') {
  const {command, args} = manifestLaunch(type);
  assert.equal(command, 'node');
  return spawnBridge(args, config);
}

// `node ARGS...` (a bridge launch line) with the environment mcpd gives an instance.
async function spawnBridge(args, config = {}, {logLevel = 'info'} = {}) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH, HOME: os.tmpdir(), NODE_ENV: 'production', PORT: String(port),
    MCP_ID: 'fs-test', MCP_ACCESS_TOKEN: TOKEN, LOG_LEVEL: logLevel, MCP_CONFIG: JSON.stringify(config),
  };
  const child = spawn(process.execPath, args, {cwd: SERVERS_DIR, env, stdio: ['ignore', 'pipe', 'pipe']});
  const out = {stdout: '', stderr: ''};
  child.stdout.on('data', (d) => { out.stdout += d; });
  child.stderr.on('data', (d) => { out.stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({code, signal})));
  return {child, pid: child.pid, port, token: TOKEN, out, exited, url: `http://127.0.0.1:${port}`};
}

function childPids(srv) {
  return [...srv.out.stdout.matchAll(/"msg":"stdio server started".*?"pid":(\d+)/g)].map((m) => Number(m[1]));
}

function sharedPids(srv) {
  return [...srv.out.stdout.matchAll(/"msg":"shared stdio server started".*?"pid":(\d+)/g)].map((m) => Number(m[1]));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('filesystem type (stdio behind the bridge)', () => {
  let dir;
  let srv;
  const clients = [];
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'minimcp-fs-'));
    writeFileSync(path.join(dir, 'hello.txt'), 'héllo from stdio\n');
    mkdirSync(path.join(dir, 'sub'));
    srv = await spawnFilesystem({root: dir});
    await waitHealthy(srv);
  });
  after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await stopServer(srv);
    rmSync(dir, {recursive: true, force: true});
  });

  test('/mcp needs the instance token (401) and a loopback Origin (403)', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${TOKEN}`]) {
      const r = await fetch(`${srv.url}/mcp`, {method: 'POST', body: JSON.stringify(INIT),
        headers: {...MCP_HEADERS, ...(auth ? {Authorization: auth} : {})}});
      assert.equal(r.status, 401, String(auth));
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
      await r.text();
    }
    const r = await fetch(`${srv.url}/mcp`, {method: 'POST', body: JSON.stringify(INIT),
      headers: {...MCP_HEADERS, Authorization: `Bearer ${TOKEN}`, Origin: 'https://evil.example'}});
    assert.equal(r.status, 403);
    await r.text();
    await assert.rejects(connectClient(srv, {token: 'not-the-token'}), /401|Unauthorized/);
    assert.equal(childPids(srv).length, 0, 'a rejected request must not spawn a child');
  });

  test('lists and reads files under config.root with the SDK client', async () => {
    const c = await connectClient(srv);
    clients.push(c);
    const {tools} = await c.client.listTools();
    for (const t of ['list_directory', 'read_text_file', 'list_allowed_directories']) {
      assert.ok(tools.some((x) => x.name === t), `${t} missing`);
    }
    const listing = await c.client.callTool({name: 'list_directory', arguments: {path: dir}});
    assert.notEqual(listing.isError, true, JSON.stringify(listing));
    assert.match(listing.content[0].text, /\[FILE\] hello\.txt/);
    assert.match(listing.content[0].text, /\[DIR\] sub/);
    const read = await c.client.callTool({name: 'read_text_file', arguments: {path: path.join(dir, 'hello.txt')}});
    assert.equal(read.content[0].text, 'héllo from stdio\n');
  });

  test('outside config.root is refused, and client roots cannot widen it', async () => {
    // A client offering roots ["/"]: the bridge hides the capability from the child.
    const client = new Client({name: 'roots-client', version: '0'}, {capabilities: {roots: {listChanged: true}}});
    let asked = false;
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      asked = true;
      return {roots: [{uri: 'file:///', name: 'everything'}]};
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${srv.url}/mcp`),
        {requestInit: {headers: {Authorization: `Bearer ${TOKEN}`}}});
    await client.connect(transport);
    clients.push({client});
    const r = await client.callTool({name: 'read_text_file', arguments: {path: '/etc/hostname'}});
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /Access denied/);
    const allowed = await client.callTool({name: 'list_allowed_directories', arguments: {}});
    assert.match(allowed.content[0].text, new RegExp(path.basename(dir)));
    assert.equal(asked, false);
  });

  test('2026-07-28: pinned SDK v2 clients list and read through one shared child, still confined', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await connectClientV2(srv);
      clients.push(c);
      assert.equal(c.client.getProtocolEra(), 'modern');
      const {tools} = await c.client.listTools();
      assert.ok(tools.some((x) => x.name === 'read_text_file'), JSON.stringify(tools.map((t) => t.name)));
      const read = await c.client.callTool({name: 'read_text_file', arguments: {path: path.join(dir, 'hello.txt')}});
      assert.equal(read.content[0].text, 'héllo from stdio\n');
      const outside = await c.client.callTool({name: 'read_text_file', arguments: {path: '/etc/hostname'}});
      assert.equal(outside.isError, true);
      assert.match(outside.content[0].text, /Access denied/);
    }
    assert.equal(sharedPids(srv).length, 1, srv.out.stdout);
  });

  test('each session has its own child; SIGTERM stops the bridge and its children', async () => {
    const pids = [...childPids(srv), ...sharedPids(srv)];
    assert.ok(pids.length >= 2, `children: ${pids}`);
    assert.equal(new Set(pids).size, pids.length);
    assert.ok(pids.every(alive));
    await stopServer(srv);
    assert.deepEqual(await withTimeout(srv.exited, 3000, 'bridge exit'), {code: 0, signal: null});
    await waitFor(() => !pids.some(alive), 5000, 'children to exit');
  });
});

describe('filesystem type launch checks', () => {
  test('without config.root the bridge refuses to start (exit 2, one clear line)', async () => {
    const srv = await spawnFilesystem({});
    try {
      const {code} = await withTimeout(srv.exited, 5000, 'exit');
      assert.equal(code, 2);
      assert.match(srv.out.stderr, /MCP_CONFIG\.root is required/);
    } finally {
      await stopServer(srv);
    }
  });

  test('a config value that looks like an option is refused', async () => {
    const srv = await spawnFilesystem({root: '--help'});
    try {
      assert.equal((await withTimeout(srv.exited, 5000, 'exit')).code, 2);
      assert.match(srv.out.stderr, /must be non-empty and not start with "-"/);
    } finally {
      await stopServer(srv);
    }
  });

  test('a root that does not exist fails the session (and a 2026-07-28 request) with the child\'s reason', async () => {
    const srv = await spawnFilesystem({root: path.join(os.tmpdir(), 'minimcp-no-such-dir-9f3a')});
    try {
      await waitHealthy(srv);
      await assert.rejects(withTimeout(connectClient(srv), 10000, 'connect'), /stdio server exited/);
      // 2026-07-28: the shared child fails the same way, and says why.
      await assert.rejects(withTimeout(connectClientV2(srv), 10000, 'connect v2'), /502/);
      const r = await fetch(`${srv.url}/mcp`, {
        method: 'POST',
        headers: {...MCP_HEADERS, 'Authorization': `Bearer ${TOKEN}`, 'MCP-Protocol-Version': '2026-07-28',
          'Mcp-Method': 'server/discover'},
        body: JSON.stringify({jsonrpc: '2.0', id: 7, method: 'server/discover', params: {_meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': {name: 'raw', version: '0'},
          'io.modelcontextprotocol/clientCapabilities': {}}}}),
      });
      assert.equal(r.status, 502);
      const body = await r.json();
      assert.equal(body.id, 7);
      assert.match(body.error.message, /stdio server exited: .*None of the specified directories are accessible/);
    } finally {
      await stopServer(srv);
    }
  });
});

describe('everything type (the reference server behind the bridge)', () => {
  let srv;
  const clients = [];
  before(async () => {
    srv = await spawnFilesystem({}, 'everything');
    await waitHealthy(srv);
  });
  after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await stopServer(srv);
  });

  for (const [era, connect] of [['2025-11-25, SDK 1.32', connectClient], ['2026-07-28, SDK v2', connectClientV2]]) {
    test(`${era}: echo, and get-env shows no instance token`, async () => {
      const c = await connect(srv);
      clients.push(c);
      const r = await c.client.callTool({name: 'echo', arguments: {message: 'hi'}});
      assert.equal(r.content[0].text, 'Echo: hi');
      const env = await c.client.callTool({name: 'get-env', arguments: {}});
      assert.doesNotMatch(JSON.stringify(env), new RegExp(TOKEN));
    });
  }

  test('a request without the instance token is refused', async () => {
    await assert.rejects(connectClient(srv, {token: 'not-the-token'}), /401|Unauthorized/);
  });
});

// 2026-07-28 has no session: what the shared child pushes on its own goes on the stream of the
// request it concerns, or to subscriptions/listen streams, or nowhere.
describe('stdio bridge, 2026-07-28: notifications the shared child pushes', () => {
  let srv;
  const ENVELOPE = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': {name: 'raw', version: '0'},
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  let nextId = 1;
  const post = (method, params, {meta = {}, signal} = {}) => fetch(`${srv.url}/mcp`, {
    method: 'POST',
    headers: {...MCP_HEADERS, 'Authorization': `Bearer ${TOKEN}`, 'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': method, ...(params?.name ? {'Mcp-Name': params.name} : {})},
    body: JSON.stringify({jsonrpc: '2.0', id: nextId++, method, params: {...params, _meta: {...ENVELOPE, ...meta}}}),
    signal,
  });
  // Every JSON-RPC message of a response, JSON or SSE.
  async function messages(res) {
    const text = await res.text();
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return [JSON.parse(text)];
    return [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]));
  }
  const call = (name, args, opts) => post('tools/call', {name, arguments: args}, opts);
  // An SSE response read as it arrives: until(re) waits for text matching re.
  function sseReader(res) {
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    return {
      text: () => text,
      until: (re) => withTimeout((async () => {
        while (!re.test(text)) {
          const {value, done} = await reader.read();
          if (done) throw new Error(`stream ended: ${text}`);
          text += decoder.decode(value, {stream: true});
        }
      })(), 10000, `stream ${re}`),
    };
  }
  const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

  before(async () => {
    srv = await spawnBridge(['lib/stdio_bridge.js', '--name', 'notifying', '--', 'node',
      './lib/fake_stdio_server.js'], {}, {logLevel: 'debug'});
    await waitHealthy(srv);
  });
  after(async () => stopServer(srv));

  test('a log message during the only request in flight goes on its stream, at the level it asked for', async () => {
    const got = await messages(await call('log', {text: 'hello-1'}, {meta: {[LOG_LEVEL]: 'info'}}));
    assert.deepEqual(got.map((m) => m.method ?? 'result'), ['notifications/message', 'result'], JSON.stringify(got));
    assert.deepEqual(got[0].params, {level: 'info', logger: 'notifying', data: 'hello-1'});
    assert.equal(got[1].result.content[0].text, 'logged hello-1');
    // A caller that asked for no logs, or only for worse ones, gets none.
    for (const meta of [{}, {[LOG_LEVEL]: 'error'}]) {
      const quiet = await messages(await call('log', {text: 'hello-2'}, {meta}));
      assert.deepEqual(quiet.map((m) => m.method ?? 'result'), ['result'], JSON.stringify(quiet));
    }
  });

  test('with two requests in flight a log message belongs to neither: dropped, and both answered', async () => {
    const held = await call('hold', {}, {meta: {[LOG_LEVEL]: 'debug', progressToken: 'held'}});
    const stream = sseReader(held);
    // Its progress says the child has it: now two requests are in flight.
    await stream.until(/notifications\/progress/);
    const logged = await messages(await call('log', {text: 'crowded'}, {meta: {[LOG_LEVEL]: 'debug'}}));
    assert.deepEqual(logged.map((m) => m.method ?? 'result'), ['result'], JSON.stringify(logged));
    await messages(await call('release', {}));
    await stream.until(/"released"/);
    assert.doesNotMatch(stream.text(), /notifications\/message/);
    assert.match(srv.out.stdout, /dropped a notification of the shared stdio server.*notifications\/message/);
  });

  test('a list change reaches the subscriptions/listen streams', async () => {
    const stop = new AbortController();
    const listen = await post('subscriptions/listen', {notifications: {toolsListChanged: true}}, {signal: stop.signal});
    assert.equal(listen.status, 200);
    assert.match(listen.headers.get('content-type'), /text\/event-stream/);
    const stream = sseReader(listen);
    await stream.until(/notifications\/subscriptions\/acknowledged/);
    const added = await messages(await call('add_tool', {}));
    assert.equal(added.at(-1).result.content[0].text, 'added_1');
    await stream.until(/notifications\/tools\/list_changed/);
    stop.abort();
    const tools = await messages(await post('tools/list', {}));
    assert.ok(tools[0].result.tools.some((t) => t.name === 'added_1'), JSON.stringify(tools));
  });
});
