// Helpers for tests and benches of instance servers: spawn one the way mcpd
// does (environment built from nothing), wait for it, talk MCP to it, stop it by PID.
// Kept out of test/ so `node --test` does not run it as a test file.

import {spawn} from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StreamableHTTPClientTransport} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {Client as ClientV2, StreamableHTTPClientTransport as StreamableHTTPClientTransportV2} from '@modelcontextprotocol/client';

export const SERVERS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({host: '127.0.0.1', port: 0}, () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts `node <script>` with only the variables mcpd would pass. Returns the
// child plus its collected output and an `exited` promise of {code, signal}.
export async function spawnServer(script, {token = 'test-token-0123456789', config, port, env = {}} = {}) {
  port ??= await freePort();
  const childEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    PORT: String(port),
    MCP_ID: 'test-instance',
    MCP_ACCESS_TOKEN: token,
    LOG_LEVEL: 'info',
    ...(config !== undefined ? {MCP_CONFIG: JSON.stringify(config)} : {}),
    ...env,
  };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [script], {cwd: SERVERS_DIR, env: childEnv, stdio: ['ignore', 'pipe', 'pipe']});
  const out = {stdout: '', stderr: ''};
  child.stdout.on('data', (d) => { out.stdout += d; });
  child.stderr.on('data', (d) => { out.stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({code, signal})));
  return {child, pid: child.pid, port, token, out, exited, url: `http://127.0.0.1:${port}`};
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls /health with a short backoff until 200, the process exits, or the deadline passes.
export async function waitHealthy(srv, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  srv.exited.then((e) => { exited = e; });
  let delay = 5;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited before healthy: ${JSON.stringify(exited)} ${srv.out.stderr}`);
    try {
      const r = await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(1000)});
      if (r.status === 200) return await r.json();
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
  throw new Error(`server not healthy within ${timeoutMs} ms; stderr: ${srv.out.stderr}`);
}

export async function stopServer(srv, timeoutMs = 3000) {
  if (!srv || srv.child.exitCode !== null || srv.child.signalCode !== null) return;
  srv.child.kill('SIGTERM');
  try {
    await withTimeout(srv.exited, timeoutMs, 'server exit');
  } catch {
    srv.child.kill('SIGKILL');
    await srv.exited;
  }
}

export async function connectClient(srv, {token = srv.token, name = 'test-client'} = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(`${srv.url}/mcp`), {
    requestInit: {headers: {Authorization: `Bearer ${token}`}},
  });
  const client = new Client({name, version: '0.0.0'});
  await client.connect(transport);
  return {client, transport};
}

// An SDK v2 client. mode: {pin: '2026-07-28'} (sessionless only, no fallback), 'auto'
// (server/discover first, falls back to initialize) or 'legacy' (the 2025 handshake).
export async function connectClientV2(srv, {token = srv.token, name = 'test-client-v2', mode = {pin: '2026-07-28'}} = {}) {
  const transport = new StreamableHTTPClientTransportV2(new URL(`${srv.url}/mcp`), {
    requestInit: {headers: {Authorization: `Bearer ${token}`}},
  });
  const client = new ClientV2({name, version: '0.0.0'}, {versionNegotiation: {mode}});
  await client.connect(transport);
  return {client, transport};
}
