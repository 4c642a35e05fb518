// Calls one tool over and over with a reference SDK Client through one connection, for the
// replacement-under-load end-to-end test: the test changes the instance's key or spec while
// this runs and then asks it to stop.
//
//   MCP_TOKEN=... node tests/e2e/types/call_loop.mjs URL CLIENT TOOL STOP_FILE < ARGUMENTS.json
//
// CLIENT as in call_tools.mjs (sdk1 | v2-pinned | v2-auto). Each call's outcome is one line on
// stdout as it happens: {"n", "ok", "ms"} or {"n", "ok": false, "error"} (a thrown error or a
// result with isError). Once STOP_FILE exists the loop ends and a last line
// {"done": true, "calls", "failures"} follows; exits 0 (1 when it could not even connect).
import {existsSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(here, '../../../mcp-servers/node_modules/@modelcontextprotocol');
const CLIENTS = {
  'sdk1': async () => ({
    ...(await import(pathToFileURL(`${modules}/sdk/dist/esm/client/index.js`))),
    ...(await import(pathToFileURL(`${modules}/sdk/dist/esm/client/streamableHttp.js`))),
    options: {},
  }),
  'v2-pinned': async () => ({
    ...(await import(pathToFileURL(`${modules}/client/dist/index.mjs`))),
    options: {versionNegotiation: {mode: {pin: '2026-07-28'}}},
  }),
  'v2-auto': async () => ({
    ...(await import(pathToFileURL(`${modules}/client/dist/index.mjs`))),
    options: {versionNegotiation: {mode: 'auto'}},
  }),
};

const [url, clientKind, tool, stopFile] = process.argv.slice(2);
if (!url || !CLIENTS[clientKind] || !tool || !stopFile) {
  console.error(`usage: MCP_TOKEN=... node call_loop.mjs URL ${Object.keys(CLIENTS).join('|')} TOOL STOP_FILE < ARGS.json`);
  process.exit(2);
}
const {Client, StreamableHTTPClientTransport, options} = await CLIENTS[clientKind]();
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const args = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');

const headers = process.env.MCP_TOKEN ? {Authorization: `Bearer ${process.env.MCP_TOKEN}`} : {};
const client = new Client({name: 'e2e-call-loop', version: '0.1.0'}, options);
const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
try {
  await client.connect(transport);
} catch (err) {
  console.error(`call_loop: cannot connect: ${err?.message ?? err}`);
  process.exit(1);
}
let calls = 0;
let failures = 0;
while (!existsSync(stopFile)) {
  const n = ++calls;
  const t0 = performance.now();
  try {
    const res = await client.callTool({name: tool, arguments: args});
    if (res.isError === true) {
      const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
      throw new Error(`tool error: ${text}`);
    }
    console.log(JSON.stringify({n, ok: true, ms: Math.round(performance.now() - t0)}));
  } catch (err) {
    ++failures;
    console.log(JSON.stringify({n, ok: false, error: String(err?.message ?? err)}));
  }
}
if (transport.sessionId !== undefined) await transport.terminateSession().catch(() => {});
await client.close().catch(() => {});
console.log(JSON.stringify({done: true, calls, failures}));
process.exit(0);
