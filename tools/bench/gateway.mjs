// Gateway benchmark: MCP tools/call through the gateway vs directly to the instance, same run,
// per protocol era:
//   2025-11-25  sessions (initialize, Mcp-Session-Id), the SDK 1.32 client
//   2026-07-28  sessionless (Mcp-Method/Mcp-Name headers, per-request _meta), the SDK v2 client
//               (@modelcontextprotocol/client 2.4.0) pinned to 2026-07-28
// Per era:
//   - latency: N sequential tools/call echo per path (alternating blocks of 100, after a
//     warm-up), median and p99, added median (target <= 0.5 ms)
//   - throughput: S concurrent MCP clients calling echo, in R rounds per path that alternate
//     direct and gateway (ABBA), D seconds per path in all (target: gateway >= 90% of direct).
//     Beside it the CPU each process spent per call (client, gateway, MCP server), which a
//     shared machine disturbs far less than the rates.
// And once: the proxy's own cost on a kept-alive connection (a plain JSON answer).
// With BENCH_NGINX (nginx's binary) and TLS_DIR (server.crt and server.key that the client
// trusts) every figure also has a third path, in the same rounds: nginx as a TLS reverse proxy
// in front of the same instance. It shows what a mature proxy gets from the same machine.
// Environment: GW_URL, GW_TOKEN (gateway), DIRECT_URL, DIRECT_TOKEN (the instance): the echo
// instance; GW_URL_V2, DIRECT_URL_V2 (same tokens): an SDK v2 echo server, used for 2026-07-28
// while the echo instance does not speak it; GW_PID, DIRECT_PID, DIRECT_PID_V2: processes
// whose CPU is counted (optional); BENCH_ERA (both | 2025-11-25 | 2026-07-28), BENCH_CALLS
// (1000), BENCH_SESSIONS (8), BENCH_SECONDS (6), BENCH_ROUNDS (6), MINIMCP_MCP_SERVERS_DIR;
// NODE_EXTRA_CA_CERTS for an https gateway. Tokens come from the environment, never argv.
// Normally run by tools/bench/gateway.sh.
import {spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, connect as tcpConnect} from 'node:net';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(process.env.MINIMCP_MCP_SERVERS_DIR || resolve(here, '../../mcp-servers'),
    'node_modules/@modelcontextprotocol');
const load = (p) => import(pathToFileURL(`${modules}/${p}`));
const v1 = {
  ...(await load('sdk/dist/esm/client/index.js')),
  ...(await load('sdk/dist/esm/client/streamableHttp.js')),
};
const v2 = await load('client/dist/index.mjs');

const env = process.env;
const CALLS = Number(env.BENCH_CALLS || 1000);
const SESSIONS = Number(env.BENCH_SESSIONS || 8);
const SECONDS = Number(env.BENCH_SECONDS || 6);
const ROUNDS = Math.max(2, Number(env.BENCH_ROUNDS || 6));
const ERA = env.BENCH_ERA || 'both';
const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';

const echoPaths = {
  direct: {url: env.DIRECT_URL, token: env.DIRECT_TOKEN, pid: env.DIRECT_PID},
  gateway: {url: env.GW_URL, token: env.GW_TOKEN, proxyPids: () => [env.GW_PID]},
};
for (const [k, p] of Object.entries(echoPaths)) {
  if (!p.url || !p.token) throw new Error(`${k}: URL and token are required`);
}

async function connect({url, token}, era) {
  const init = {requestInit: {headers: {Authorization: `Bearer ${token}`}}};
  if (era === LEGACY) {
    const client = new v1.Client({name: 'gateway-bench', version: '0.0.0'});
    await client.connect(new v1.StreamableHTTPClientTransport(new URL(url), init));
    return client;
  }
  const client = new v2.Client({name: 'gateway-bench', version: '0.0.0'},
      {versionNegotiation: {mode: {pin: MODERN}}});
  await client.connect(new v2.StreamableHTTPClientTransport(new URL(url), init));
  return client;
}

const call = (client, i) => client.callTool({name: 'echo', arguments: {text: `ping ${i}`}});

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// CPU seconds processes have spent so far (user + system), or NaN when one cannot be read.
function cpuOf(pids) {
  let sum = 0;
  for (const pid of pids) {
    if (!pid) return NaN;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(f[11]) + Number(f[12])) / 100;  // utime, stime in clock ticks (USER_HZ 100)
    } catch {
      return NaN;
    }
  }
  return sum;  // no process (a direct path has no proxy): 0
}
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function latency(paths, era) {
  const clients = {};
  const samples = {};
  for (const [k, p] of Object.entries(paths)) {
    clients[k] = await connect(p, era);
    samples[k] = [];
  }
  for (const k of Object.keys(clients)) {
    for (let i = 0; i < 100; ++i) await call(clients[k], i);  // warm-up: JIT, connections
  }
  const block = 100;
  for (let done = 0; done < CALLS; done += block) {
    for (const k of Object.keys(clients)) {
      for (let i = 0; i < Math.min(block, CALLS - done); ++i) {
        const t0 = performance.now();
        await call(clients[k], i);
        samples[k].push(performance.now() - t0);
      }
    }
  }
  for (const c of Object.values(clients)) await c.close();
  const out = {};
  for (const [k, s] of Object.entries(samples)) {
    s.sort((a, b) => a - b);
    out[k] = {median: pct(s, 50), p99: pct(s, 99)};
  }
  return out;
}

// S clients per path, connected once; rounds alternate the order of the paths (direct, gateway,
// gateway, direct, ...) so a change in the machine's load falls on all alike.
async function throughput(paths, era) {
  const clients = {};
  for (const k of Object.keys(paths)) {
    clients[k] = await Promise.all(Array.from({length: SESSIONS}, () => connect(paths[k], era)));
    for (const c of clients[k]) await call(c, 0);
  }
  const keys = Object.keys(paths);
  const server = [paths.direct.pid];
  const proxy = (k) => (paths[k].proxyPids ? paths[k].proxyPids() : []);
  const total = {};
  const ratios = {};
  for (const k of keys) {
    total[k] = {calls: 0, s: 0, client: 0, gateway: 0, server: 0};
    ratios[k] = [];
  }
  const perRound = (SECONDS / ROUNDS) * 2 * 1000;
  let last = {};
  for (let r = 0; r < ROUNDS; ++r) {
    const order = r % 2 === 0 ? keys : [...keys].reverse();
    for (const k of order) {
      let count = 0;
      const before = {client: selfCpu(), gateway: cpuOf(proxy(k)), server: cpuOf(server)};
      const t0 = performance.now();
      const deadline = t0 + perRound / 2;
      await Promise.all(clients[k].map(async (c) => {
        while (performance.now() < deadline) {
          await call(c, count);
          ++count;
        }
      }));
      const s = (performance.now() - t0) / 1000;
      const t = total[k];
      t.calls += count;
      t.s += s;
      t.client += selfCpu() - before.client;
      t.gateway += cpuOf(proxy(k)) - before.gateway;
      t.server += cpuOf(server) - before.server;
      last[k] = count / s;
    }
    for (const k of keys) ratios[k].push(last[k] / last.direct);  // this round's, either order
  }
  await Promise.all(Object.values(clients).flat().map((c) => c.close()));
  const out = {};
  for (const [k, t] of Object.entries(total)) {
    const us = (x) => (x / t.calls) * 1e6;
    out[k] = {rate: t.calls / t.s, cpuUsPerCall: {client: us(t.client), gateway: us(t.gateway),
      server: us(t.server)}};
  }
  for (const k of keys) {
    out[k].ratio = out[k].rate / out.direct.rate;
    out[k].ratioRange = [Math.min(...ratios[k]), Math.max(...ratios[k])];
  }
  return out;
}

// The proxy's own cost on a kept-alive connection: a request the instance answers at once with
// a plain JSON body (tools/call without a session: 400), sequential fetches per path.
async function plainRoundTrip(paths) {
  const body = JSON.stringify({jsonrpc: '2.0', id: 1, method: 'tools/list'});
  const out = {};
  const samples = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
  const once = async (p) => {
    const res = await fetch(p.url, {
      method: 'POST',
      body,
      headers: {'Authorization': `Bearer ${p.token}`, 'Content-Type': 'application/json',
        'Accept': 'application/json, text/event-stream'},
    });
    await res.arrayBuffer();
    if (res.status !== 400) throw new Error(`unexpected status ${res.status}`);
  };
  for (const k of Object.keys(paths)) for (let i = 0; i < 100; ++i) await once(paths[k]);
  for (let done = 0; done < CALLS; done += 100) {
    for (const k of Object.keys(paths)) {
      for (let i = 0; i < 100; ++i) {
        const t0 = performance.now();
        await once(paths[k]);
        samples[k].push(performance.now() - t0);
      }
    }
  }
  for (const [k, s] of Object.entries(samples)) {
    s.sort((a, b) => a - b);
    out[k] = {median: pct(s, 50), p99: pct(s, 99)};
  }
  return out;
}

const freePort = () => new Promise((done, fail) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const {port} = s.address();
    s.close(() => done(port));
  }).on('error', fail);
});

const accepts = (port) => new Promise((done) => {
  const c = tcpConnect(port, '127.0.0.1', () => {
    c.destroy();
    done(true);
  }).on('error', () => done(false));
});

// nginx as the reference proxy: TLS from the client, HTTP/1.1 to the instance over kept-alive
// connections, responses relayed as they come (no buffering, as SSE needs), no access log, and
// as many workers as the gateway's server has I/O threads (2). One server block per instance.
// Returns {path(directUrl), stop()}, or null without BENCH_NGINX and TLS_DIR.
async function startNginx() {
  if (!env.BENCH_NGINX || !env.TLS_DIR) return null;
  const dir = mkdtempSync(join(tmpdir(), 'minimcp-bench-nginx-'));
  const targets = [env.DIRECT_URL, env.DIRECT_URL_V2].filter(Boolean);
  const ports = [];
  for (let i = 0; i < targets.length; ++i) ports.push(await freePort());
  const servers = targets.map((t, i) => `
  upstream instance${i} {
    server ${new URL(t).host};
    keepalive 32;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${ports[i]} ssl;
    ssl_certificate ${env.TLS_DIR}/server.crt;
    ssl_certificate_key ${env.TLS_DIR}/server.key;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://instance${i};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${new URL(t).host};
      proxy_buffering off;
    }
  }`).join('\n');
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${servers}
}
`);
  const proc = spawn(env.BENCH_NGINX, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`],
      {stdio: 'ignore'});
  const exited = new Promise((done) => proc.on('exit', done));
  // On any way out: SIGTERM, on which the master stops its workers too (SIGKILL would leave
  // them running).
  process.on('exit', () => {
    proc.kill('SIGTERM');
    rmSync(dir, {recursive: true, force: true});
  });
  const stop = async () => {
    proc.kill('SIGQUIT');
    await exited;
    rmSync(dir, {recursive: true, force: true});
  };
  const until = performance.now() + 10000;
  while (!(await accepts(ports[0]))) {
    if (performance.now() > until || proc.exitCode !== null) {
      let log = '';
      try { log = readFileSync(join(dir, 'error.log'), 'utf8'); } catch {}
      await stop();
      throw new Error(`nginx did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // The master and its workers (the workers do the proxying).
  const pids = () => {
    try {
      const kids = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8');
      return [proc.pid, ...kids.trim().split(/\s+/).filter(Boolean)];
    } catch {
      return [];
    }
  };
  const path = (directUrl) => {
    const u = new URL(directUrl);
    const port = ports[targets.indexOf(directUrl)];
    return {url: `https://127.0.0.1:${port}${u.pathname}`, token: env.DIRECT_TOKEN, proxyPids: pids};
  };
  return {path, stop};
}
const nginx = await startNginx();
if (nginx) echoPaths.nginx = nginx.path(env.DIRECT_URL);

// Where 2026-07-28 is measured: the echo instance once it speaks that revision, else the
// bench's own SDK v2 server (null when neither is there).
async function modernPaths() {
  try {
    const c = await connect(echoPaths.direct, MODERN);
    await c.close();
    return {paths: echoPaths, server: 'the echo instance'};
  } catch {
    if (!env.DIRECT_URL_V2 || !env.GW_URL_V2) return null;
    return {
      paths: {
        direct: {url: env.DIRECT_URL_V2, token: env.DIRECT_TOKEN, pid: env.DIRECT_PID_V2},
        gateway: {url: env.GW_URL_V2, token: env.GW_TOKEN, proxyPids: () => [env.GW_PID]},
        ...(nginx && {nginx: nginx.path(env.DIRECT_URL_V2)}),
      },
      server: "the bench's own SDK v2 echo server (the echo type speaks only 2025-11-25)",
    };
  }
}

const ms = (x) => `${x.toFixed(3)} ms`;
const cpu = (c) => ['client', 'gateway', 'server'].map((k) =>
  `${k} ${Number.isNaN(c[k]) ? '?' : c[k].toFixed(0)}`).join(', ');
const results = {};

const pad = (k) => k.padEnd(8);
// Median and p99 per path, and what each proxy adds to direct's median.
const printLatency = (lat, target) => {
  for (const [k, l] of Object.entries(lat)) {
    console.log(`  ${pad(k)} median ${ms(l.median)}   p99 ${ms(l.p99)}`);
  }
  for (const k of Object.keys(lat).filter((k) => k !== 'direct')) {
    const added = lat[k].median - lat.direct.median;
    const verdict = target && k === 'gateway' ?
      `   (target <= ${target} ms)  ${added <= target ? 'OK' : 'MISSED'}` : '';
    console.log(`  ${k} added median ${ms(added)}${verdict}`);
  }
};

const plain = await plainRoundTrip(echoPaths);
console.log(`plain JSON round trip on a kept-alive connection, ${CALLS} sequential requests per path:`);
printLatency(plain);
results.plain = plain;

const eras = [];
if (ERA === 'both' || ERA === LEGACY) eras.push({era: LEGACY, paths: echoPaths, server: 'the echo instance'});
if (ERA === 'both' || ERA === MODERN) {
  const m = await modernPaths();
  if (m) {
    eras.push({era: MODERN, ...m});
  } else {
    console.log(`${MODERN}: not measured (the echo instance does not speak it and no SDK v2 server was given)`);
    if (ERA === MODERN) process.exitCode = 1;
  }
}
for (const {era, paths, server} of eras) {
  const lat = await latency(paths, era);
  const tp = await throughput(paths, era);
  const added = lat.gateway.median - lat.direct.median;
  console.log(`== protocol ${era}, against ${server} ==`);
  console.log(`tools/call latency, ${CALLS} sequential calls per path (same run):`);
  printLatency(lat, 0.5);
  console.log(`throughput, ${SESSIONS} concurrent MCP clients, ${ROUNDS} alternating rounds, ` +
      `${SECONDS} s per path (the gateway column: the proxy's CPU, mcpd's or nginx's):`);
  const proxies = Object.keys(paths).filter((k) => k !== 'direct');
  for (const k of Object.keys(paths)) {
    console.log(`  ${pad(k)} ${tp[k].rate.toFixed(0)} calls/s   CPU µs per call: ${cpu(tp[k].cpuUsPerCall)}`);
  }
  // What a machine busy with nothing else would give when CPU is what runs out: the calls
  // each path gets from the same CPU (client, proxy and server together).
  const total = (c) => c.client + (Number.isNaN(c.gateway) ? 0 : c.gateway) + c.server;
  for (const k of proxies) {
    const verdict = k === 'gateway' ? `   (target >= 90%)  ${tp.gateway.ratio >= 0.9 ? 'OK' : 'MISSED'}` : '';
    console.log(`  ${k} = ${(tp[k].ratio * 100).toFixed(1)}% of direct (rounds ` +
        `${(tp[k].ratioRange[0] * 100).toFixed(0)}–${(tp[k].ratioRange[1] * 100).toFixed(0)}%)${verdict}`);
    tp[k].callsPerCpuRatio = total(tp.direct.cpuUsPerCall) / total(tp[k].cpuUsPerCall);
  }
  console.log(`  mcpd (gateway) CPU per 1,000 calls: ${(tp.gateway.cpuUsPerCall.gateway / 1000).toFixed(3)} s`);
  console.log(`  calls per CPU second vs direct: ` +
      proxies.map((k) => `${k} ${(tp[k].callsPerCpuRatio * 100).toFixed(1)}%`).join(', '));
  results[era] = {server, latency: lat, addedMedianMs: added, throughput: tp};
}
console.log(JSON.stringify(results));
if (nginx) await nginx.stop();
