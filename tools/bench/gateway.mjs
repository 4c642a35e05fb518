// Gateway benchmark (tenancy issue): MCP tools/call through the gateway vs directly to the
// instance, same run, same instance, the reference SDK client.
//   - latency: N sequential tools/call echo per path (alternating blocks of 100, after a warm-up),
//     median and p99, added median (target <= 0.5 ms)
//   - throughput: S concurrent MCP sessions calling echo for D seconds per path (target >= 90%)
// Environment: GW_URL, GW_TOKEN (gateway), DIRECT_URL, DIRECT_TOKEN (the instance),
// BENCH_CALLS (1000), BENCH_SESSIONS (8), BENCH_SECONDS (5), MINIMCP_MCP_SERVERS_DIR;
// NODE_EXTRA_CA_CERTS for an https gateway. Tokens come from the environment, never argv.
// Normally run by tools/bench/gateway.sh.
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(process.env.MINIMCP_MCP_SERVERS_DIR || resolve(here, '../../mcp-servers'),
    'node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StreamableHTTPClientTransport} = await import(pathToFileURL(`${sdk}/client/streamableHttp.js`));

const env = process.env;
const CALLS = Number(env.BENCH_CALLS || 1000);
const SESSIONS = Number(env.BENCH_SESSIONS || 8);
const SECONDS = Number(env.BENCH_SECONDS || 5);
const paths = {
  direct: {url: env.DIRECT_URL, token: env.DIRECT_TOKEN},
  gateway: {url: env.GW_URL, token: env.GW_TOKEN},
};
for (const [k, p] of Object.entries(paths)) {
  if (!p.url || !p.token) throw new Error(`${k}: URL and token are required`);
}

async function connect({url, token}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: {headers: {Authorization: `Bearer ${token}`}},
  });
  const client = new Client({name: 'gateway-bench', version: '0.0.0'});
  await client.connect(transport);
  return client;
}

const call = (client, i) => client.callTool({name: 'echo', arguments: {text: `ping ${i}`}});

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function latency() {
  const clients = {direct: await connect(paths.direct), gateway: await connect(paths.gateway)};
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

async function throughput(p) {
  const clients = await Promise.all(Array.from({length: SESSIONS}, () => connect(p)));
  for (const c of clients) await call(c, 0);
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < deadline) {
      await call(c, count);
      ++count;
    }
  }));
  const rate = count / ((performance.now() - t0) / 1000);
  await Promise.all(clients.map((c) => c.close()));
  return rate;
}

// The proxy's own cost on a kept-alive connection: a request the instance answers at once with
// a plain JSON body (tools/call without a session: 400), sequential fetches per path.
async function plainRoundTrip() {
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

const plain = await plainRoundTrip();
const lat = await latency();
const tDirect = await throughput(paths.direct);
const tGateway = await throughput(paths.gateway);
const added = lat.gateway.median - lat.direct.median;
const ratio = tGateway / tDirect;
const ms = (x) => `${x.toFixed(3)} ms`;
console.log(`tools/call latency, ${CALLS} sequential calls per path (same run):`);
console.log(`  direct   median ${ms(lat.direct.median)}   p99 ${ms(lat.direct.p99)}`);
console.log(`  gateway  median ${ms(lat.gateway.median)}   p99 ${ms(lat.gateway.p99)}`);
console.log(`  added median ${ms(added)}   (target <= 0.5 ms)  ${added <= 0.5 ? 'OK' : 'MISSED'}`);
console.log(`plain JSON round trip on a kept-alive connection, ${CALLS} sequential requests per path:`);
console.log(`  direct   median ${ms(plain.direct.median)}   p99 ${ms(plain.direct.p99)}`);
console.log(`  gateway  median ${ms(plain.gateway.median)}   p99 ${ms(plain.gateway.p99)}`);
console.log(`  added median ${ms(plain.gateway.median - plain.direct.median)}`);
console.log(`throughput, ${SESSIONS} concurrent MCP sessions, ${SECONDS} s per path:`);
console.log(`  direct   ${tDirect.toFixed(0)} calls/s`);
console.log(`  gateway  ${tGateway.toFixed(0)} calls/s   = ${(ratio * 100).toFixed(1)}% of direct` +
    `   (target >= 90%)  ${ratio >= 0.9 ? 'OK' : 'MISSED'}`);
console.log(JSON.stringify({plain, latency: lat, addedMedianMs: added, throughput: {direct: tDirect, gateway: tGateway, ratio}}));
