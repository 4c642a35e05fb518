// The client side of tools/bench/gateway_profile.sh, run by the gateway harness in place of
// gateway.mjs: S SDK sessions (protocol 2025-11-25) through the gateway to the echo instance, a
// warm-up, then two windows of the gateway process's callgrind counters: one with CALLS
// tools/call echo (spread over the sessions) and one idle for as long (what the process does
// without any call; at most 20 s, scaled), each zeroed before and dumped after with callgrind_control. Prints the two
// dump files and the window lengths as JSON.
// Environment: GW_URL, GW_TOKEN, GW_PID (the gateway process, under callgrind), OUT_DIR (where
// its dumps go), CALLS (1000), SESSIONS (1), NODE_EXTRA_CA_CERTS.
import {execFileSync} from 'node:child_process';
import {readdirSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../../mcp-servers/node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StreamableHTTPClientTransport} = await import(pathToFileURL(`${sdk}/client/streamableHttp.js`));

const env = process.env;
const CALLS = Number(env.CALLS || 1000);
const SESSIONS = Number(env.SESSIONS || 1);
const pid = env.GW_PID;
const outDir = env.OUT_DIR;

async function connect() {
  const client = new Client({name: 'gateway-profile', version: '0'});
  await client.connect(new StreamableHTTPClientTransport(new URL(env.GW_URL),
      {requestInit: {headers: {Authorization: `Bearer ${env.GW_TOKEN}`}}}));
  return client;
}
const call = async (c, i) => {
  const res = await c.callTool({name: 'echo', arguments: {text: `ping ${i}`}});
  if (!JSON.stringify(res).includes(`ping ${i}`)) throw new Error(`unexpected ${JSON.stringify(res)}`);
};

// callgrind_control: -z zeroes the counters, -d dumps them (a new callgrind.out.PID.N file).
const control = (flag) => execFileSync('callgrind_control', [flag, String(pid)], {stdio: 'ignore'});
const dumps = () => new Set(readdirSync(outDir).filter((f) => f.startsWith(`callgrind.out.${pid}.`)));
function dumpNew(before) {
  control('-d');
  const added = [...dumps()].filter((f) => !before.has(f));
  if (added.length !== 1) throw new Error(`expected one new dump, got ${added}`);
  return added[0];
}

// One at a time: TLS handshakes under callgrind are slow enough for concurrent ones to time out.
const clients = [];
for (let k = 0; k < SESSIONS; ++k) clients.push(await connect());
for (const [k, c] of clients.entries()) for (let i = 0; i < 20; ++i) await call(c, k * 100 + i);

let before = dumps();
control('-z');
const t0 = performance.now();
let next = 0;
await Promise.all(clients.map(async (c) => {
  while (next < CALLS) await call(c, next++);
}));
const busyMs = performance.now() - t0;
const busy = dumpNew(before);

// The idle window is at most 20 s; its count is scaled to the calls window's length.
before = dumps();
control('-z');
const t1 = performance.now();
await new Promise((r) => setTimeout(r, Math.min(busyMs, 20000)));
const idleMs = performance.now() - t1;
const idle = dumpNew(before);

await Promise.all(clients.map((c) => c.close()));
console.log(JSON.stringify({calls: CALLS, sessions: SESSIONS, busy, busyMs, idle, idleMs}));
