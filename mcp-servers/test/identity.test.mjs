// Warm-pool mode of the shared lib (lib/identity.js): a server started without an identity
// says "ready" on its channel, serves nothing until claimed, takes its instance's environment
// from the channel once, and never reads the channel again.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {readFileSync, readdirSync, readlinkSync} from 'node:fs';
import path from 'node:path';
import {SERVERS_DIR, connectClient, freePort, stopServer, waitHealthy, withTimeout} from '../lib/testing.js';

const ECHO = path.join(SERVERS_DIR, 'echo/server.js');
const BRIDGE_ARGS = [path.join(SERVERS_DIR, 'lib/stdio_bridge.js'), '--name', 'everything', '--', process.execPath,
  path.join(SERVERS_DIR, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];

// The TCP sockets process `pid` holds that listen (inodes of /proc/net/tcp{,6} in state 0A).
function listeningSockets(pid) {
  const held = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`));
    if (m) held.add(m[1]);
  }
  const listening = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && held.has(f[9])) listening.push(f[1]);
    }
  }
  return listening;
}
function readlinkSafe(p) {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

function spawnPooled(args) {
  const child = spawn(process.execPath, args, {
    cwd: '/',
    env: {PATH: process.env.PATH, HOME: '/tmp', NODE_ENV: 'production', MCP_IDENTITY_FD: '3', MCP_POOL_ID: 'slot-1'},
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const out = {stdout: '', stderr: ''};
  child.stdout.on('data', (d) => { out.stdout += d; });
  child.stderr.on('data', (d) => { out.stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({code, signal})));
  const channel = child.stdio[3];
  const ready = new Promise((resolve) => {
    let text = '';
    channel.on('data', (d) => {
      text += d;
      if (text.includes('ready\n')) resolve();
    });
  });
  const channelEnded = new Promise((resolve) => channel.once('end', resolve));
  return {child, pid: child.pid, out, exited, channel, ready, channelEnded};
}

test('a pooled server waits for its identity, then serves as that instance', async () => {
  const p = spawnPooled([ECHO]);
  try {
    await withTimeout(p.ready, 10000, 'ready');
    const port = await freePort();
    const token = 'pool-token-0123456789';
    const srv = {...p, port, token, url: `http://127.0.0.1:${port}`};
    // Ready, yet nothing listens: it has no port until claimed (its warm-up server is gone).
    await assert.rejects(fetch(`${srv.url}/health`));
    assert.deepEqual(listeningSockets(p.pid), []);
    const cwd = '/tmp';
    p.channel.end(JSON.stringify({cwd, env: {
      PATH: process.env.PATH, HOME: cwd, PORT: String(port), MCP_ID: 'pooled-instance',
      MCP_ACCESS_TOKEN: token, MCP_CONFIG: '{}', LOG_LEVEL: 'info', NODE_ENV: 'production',
    }}));
    const health = await waitHealthy(srv);
    assert.equal(health.mcpId, 'pooled-instance');
    const {client} = await connectClient(srv);
    const r = await client.callTool({name: 'echo', arguments: {text: 'hi'}});
    assert.equal(r.content[0].text, 'hi');
    await client.close();
    // The channel was read to its end and closed by the server: nothing more can reach it.
    await withTimeout(p.channelEnded, 5000, 'channel end');
    // What the kernel shows of its environment never held the identity.
    const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8');
    assert.ok(!environ.includes(token));
    assert.ok(!environ.includes('pooled-instance'));
  } finally {
    await stopServer(p);
  }
});

test('a pooled server whose channel ends without an identity exits 0 without serving', async () => {
  const p = spawnPooled([ECHO]);
  await withTimeout(p.ready, 10000, 'ready');
  p.channel.end();
  assert.deepEqual(await withTimeout(p.exited, 5000, 'exit'), {code: 0, signal: null});
  assert.equal(p.out.stdout, '');
});

test('a pooled server stopped while waiting dies of SIGTERM', async () => {
  const p = spawnPooled([ECHO]);
  await withTimeout(p.ready, 10000, 'ready');
  p.child.kill('SIGTERM');
  const e = await withTimeout(p.exited, 5000, 'exit');
  assert.ok(e.signal === 'SIGTERM' || e.code === 0, JSON.stringify(e));
});

test('a malformed identity is refused with exit code 2', async () => {
  const p = spawnPooled([ECHO]);
  await withTimeout(p.ready, 10000, 'ready');
  p.channel.end('{"cwd": 1}');
  assert.equal((await withTimeout(p.exited, 5000, 'exit')).code, 2);
  assert.match(p.out.stderr, /identity is not/);
});

test('the stdio bridge waits for its identity before reading its config', async () => {
  const p = spawnPooled(BRIDGE_ARGS);
  try {
    await withTimeout(p.ready, 10000, 'ready');
    const port = await freePort();
    const token = 'bridge-token-0123456789';
    const srv = {...p, port, token, url: `http://127.0.0.1:${port}`};
    p.channel.end(JSON.stringify({cwd: '/tmp', env: {
      PATH: process.env.PATH, HOME: '/tmp', PORT: String(port), MCP_ID: 'bridged', MCP_ACCESS_TOKEN: token,
      MCP_CONFIG: '{}', NODE_ENV: 'production',
    }}));
    assert.equal((await waitHealthy(srv)).mcpId, 'bridged');
  } finally {
    await stopServer(p);
  }
});
