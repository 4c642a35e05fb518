// Calls one tool over and over with a reference SDK Client through one connection, for the
// replacement-under-load end-to-end test: the test changes the instance's key or spec while
// this runs and then asks it to stop.
//
//   MCP_TOKEN=... node tests/e2e/types/call_loop.mjs URL CLIENT TOOL STOP_FILE < ARGUMENTS.json
//
// CLIENT as in call_tools.mjs (sdk_clients.mjs: sdk1 | v2-pinned | v2-auto). Each call's outcome
// is one line on stdout as it happens: {"n", "ok", "ms"} or {"n", "ok": false, "error"} (a thrown
// error or a result with isError). Once STOP_FILE exists the loop ends and a last line
// {"done": true, "calls", "failures"} follows; exits 0 (1 when it could not even connect).
import {existsSync} from 'node:fs';

import {clientKinds, closeClient, newClient, readJsonStdin, resultText} from './sdk_clients.mjs';

const [url, clientKind, tool, stopFile] = process.argv.slice(2);
if (!url || !clientKinds.includes(clientKind) || !tool || !stopFile) {
  console.error(`usage: MCP_TOKEN=... node call_loop.mjs URL ${clientKinds.join('|')} TOOL STOP_FILE < ARGS.json`);
  process.exit(2);
}
const args = await readJsonStdin({});
const connection = await newClient(url, clientKind, 'e2e-call-loop');
const {client, transport} = connection;
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
    if (res.isError === true) throw new Error(`tool error: ${resultText(res)}`);
    console.log(JSON.stringify({n, ok: true, ms: Math.round(performance.now() - t0)}));
  } catch (err) {
    ++failures;
    console.log(JSON.stringify({n, ok: false, error: String(err?.message ?? err)}));
  }
}
await closeClient(connection).catch(() => {});
console.log(JSON.stringify({done: true, calls, failures}));
process.exit(0);
