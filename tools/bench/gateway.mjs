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
// Environment: GW_URL, GW_TOKEN (gateway), DIRECT_URL, DIRECT_TOKEN (the instance): the echo
// instance; GW_URL_V2, DIRECT_URL_V2 (same tokens): an SDK v2 echo server, used for 2026-07-28
// while the echo instance does not speak it; GW_PID, DIRECT_PID, DIRECT_PID_V2: processes
// whose CPU is counted (optional); BENCH_ERA (both | 2025-11-25 | 2026-07-28), BENCH_CALLS
// (1000), BENCH_SESSIONS (8), BENCH_SECONDS (6), BENCH_ROUNDS (6), MINIMCP_MCP_SERVERS_DIR;
// NODE_EXTRA_CA_CERTS for an https gateway. Tokens come from the environment, never argv.
// Normally run by tools/bench/gateway.sh.
import {readFileSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
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
  gateway: {url: env.GW_URL, token: env.GW_TOKEN},
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

// CPU seconds a process has spent so far (user + system), or NaN when it cannot be read.
function cpuOf(pid) {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;  // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function latency(paths, era) {
  const clients = {direct: await connect(paths.direct, era), gateway: await connect(paths.gateway, era)};
  const samples = {direct: [], gateway: []};
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

// S clients per path, connected once; rounds alternate the paths (direct, gateway, gateway,
// direct, ...) so a change in the machine's load falls on both alike.
async function throughput(paths, era) {
  const clients = {};
  for (const k of Object.keys(paths)) {
    clients[k] = await Promise.all(Array.from({length: SESSIONS}, () => connect(paths[k], era)));
    for (const c of clients[k]) await call(c, 0);
  }
  const pids = {gateway: env.GW_PID, server: paths.direct.pid};
  const total = {};
  for (const k of Object.keys(paths)) total[k] = {calls: 0, s: 0, client: 0, gateway: 0, server: 0};
  const ratios = [];
  const perRound = (SECONDS / ROUNDS) * 2 * 1000;
  let last = {};
  for (let r = 0; r < ROUNDS; ++r) {
    const order = r % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
    for (const k of order) {
      let count = 0;
      const before = {client: selfCpu(), gateway: cpuOf(pids.gateway), server: cpuOf(pids.server)};
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
      t.gateway += cpuOf(pids.gateway) - before.gateway;
      t.server += cpuOf(pids.server) - before.server;
      last[k] = count / s;
    }
    ratios.push(last.gateway / last.direct);  // this round's pair, whichever ran first
  }
  await Promise.all(Object.values(clients).flat().map((c) => c.close()));
  const out = {ratioRange: [Math.min(...ratios), Math.max(...ratios)]};
  for (const [k, t] of Object.entries(total)) {
    const us = (x) => (x / t.calls) * 1e6;
    out[k] = {rate: t.calls / t.s, cpuUsPerCall: {client: us(t.client), gateway: us(t.gateway),
      server: us(t.server)}};
  }
  out.ratio = out.gateway.rate / out.direct.rate;
  return out;
}

// The proxy's own cost on a kept-alive connection: a request the instance answers at once with
// a plain JSON body (tools/call without a session: 400), sequential fetches per path.
async function plainRoundTrip(paths) {
  const body = JSON.stringify({jsonrpc: '2.0', id: 1, method: 'tools/list'});
  const out = {};
  const samples = {direct: [], gateway: []};
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
        gateway: {url: env.GW_URL_V2, token: env.GW_TOKEN},
      },
      server: "the bench's own SDK v2 echo server (the echo type speaks only 2025-11-25)",
    };
  }
}

const ms = (x) => `${x.toFixed(3)} ms`;
const cpu = (c) => ['client', 'gateway', 'server'].map((k) =>
  `${k} ${Number.isNaN(c[k]) ? '?' : c[k].toFixed(0)}`).join(', ');
const results = {};

const plain = await plainRoundTrip(echoPaths);
console.log(`plain JSON round trip on a kept-alive connection, ${CALLS} sequential requests per path:`);
console.log(`  direct   median ${ms(plain.direct.median)}   p99 ${ms(plain.direct.p99)}`);
console.log(`  gateway  median ${ms(plain.gateway.median)}   p99 ${ms(plain.gateway.p99)}`);
console.log(`  added median ${ms(plain.gateway.median - plain.direct.median)}`);
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
  console.log(`  direct   median ${ms(lat.direct.median)}   p99 ${ms(lat.direct.p99)}`);
  console.log(`  gateway  median ${ms(lat.gateway.median)}   p99 ${ms(lat.gateway.p99)}`);
  console.log(`  added median ${ms(added)}   (target <= 0.5 ms)  ${added <= 0.5 ? 'OK' : 'MISSED'}`);
  console.log(`throughput, ${SESSIONS} concurrent MCP clients, ${ROUNDS} alternating rounds, ` +
      `${SECONDS} s per path:`);
  console.log(`  direct   ${tp.direct.rate.toFixed(0)} calls/s   CPU µs per call: ${cpu(tp.direct.cpuUsPerCall)}`);
  console.log(`  gateway  ${tp.gateway.rate.toFixed(0)} calls/s   CPU µs per call: ${cpu(tp.gateway.cpuUsPerCall)}`);
  console.log(`  gateway = ${(tp.ratio * 100).toFixed(1)}% of direct (rounds ` +
      `${(tp.ratioRange[0] * 100).toFixed(0)}–${(tp.ratioRange[1] * 100).toFixed(0)}%)   ` +
      `(target >= 90%)  ${tp.ratio >= 0.9 ? 'OK' : 'MISSED'}`);
  // What a machine busy with nothing else would give when CPU is what runs out: the calls
  // each path gets from the same CPU (client, gateway and server together).
  const total = (c) => c.client + (Number.isNaN(c.gateway) ? 0 : c.gateway) + c.server;
  const byCpu = total(tp.direct.cpuUsPerCall) / total(tp.gateway.cpuUsPerCall);
  console.log(`  mcpd (gateway) CPU per 1,000 calls: ${(tp.gateway.cpuUsPerCall.gateway / 1000).toFixed(3)} s;` +
      ` calls per CPU second, gateway vs direct: ${(byCpu * 100).toFixed(1)}%`);
  tp.callsPerCpuRatio = byCpu;
  results[era] = {server, latency: lat, addedMedianMs: added, throughput: tp};
}
console.log(JSON.stringify(results));
