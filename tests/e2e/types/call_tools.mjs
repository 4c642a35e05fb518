// Calls several tools of one MCP server in one connection with a reference SDK Client
// over Streamable HTTP, for the types end-to-end test (tools/mcp-call.mjs does one call
// and prints text; this one runs a batch and prints JSON the test can assert on).
//
//   MCP_TOKEN=... node tests/e2e/types/call_tools.mjs URL [CLIENT] < '[{"name": TOOL, "arguments": {...}}, ...]'
//
// CLIENT picks the client and how it chooses the protocol era:
//   sdk1        @modelcontextprotocol/sdk 1.32: the 2025 `initialize` handshake (the default)
//   v2-pinned   @modelcontextprotocol/client 2.4 pinned to 2026-07-28 (no fallback)
//   v2-auto     @modelcontextprotocol/client 2.4 probing with server/discover, falling back to
//               `initialize` when the server is not modern
// The token comes from the environment, never argv. For mcpd's HTTPS gateway set
// NODE_EXTRA_CA_CERTS to mcpd's CA. Prints one JSON line
//   {"client", "era", "protocolVersion", "tools": [names],
//    "results": [{"name", "isError", "text", "structuredContent"}]}
// and exits 0; a transport or protocol failure prints the error on stderr and exits 1.
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

const [url, clientKind = 'sdk1'] = process.argv.slice(2);
if (!url || !CLIENTS[clientKind]) {
  console.error(`usage: MCP_TOKEN=... node call_tools.mjs URL [${Object.keys(CLIENTS).join('|')}] < CALLS.json`);
  process.exit(2);
}
const {Client, StreamableHTTPClientTransport, options} = await CLIENTS[clientKind]();
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const calls = JSON.parse(Buffer.concat(chunks).toString('utf8') || '[]');

const headers = process.env.MCP_TOKEN ? {Authorization: `Bearer ${process.env.MCP_TOKEN}`} : {};
const client = new Client({name: 'e2e-types', version: '0.1.0'}, options);
const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
try {
  await client.connect(transport);
  // SDK 1.32 has no eras: it speaks 2025 only.
  const era = client.getProtocolEra?.() ?? 'legacy';
  const protocolVersion = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion;
  const {tools} = await client.listTools();
  const results = [];
  for (const {name, arguments: args = {}} of calls) {
    const res = await client.callTool({name, arguments: args});
    const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    results.push({name, isError: res.isError === true, text, structuredContent: res.structuredContent ?? null});
  }
  // DELETE the session: closing the client alone leaves it open on the server until it idles out.
  if (transport.sessionId !== undefined) await transport.terminateSession();
  await client.close();
  console.log(JSON.stringify({client: clientKind, era, protocolVersion, tools: tools.map((t) => t.name), results}));
  process.exit(0);
} catch (err) {
  console.error(`call_tools: ${err?.message ?? err}`);
  process.exit(1);
}
