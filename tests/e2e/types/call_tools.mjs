// Calls several tools of one MCP server in one connection with a reference SDK Client
// over Streamable HTTP, for the types end-to-end test (tools/mcp-call.mjs does one call
// and prints text; this one runs a batch and prints JSON the test can assert on).
//
//   MCP_TOKEN=... node tests/e2e/types/call_tools.mjs URL [CLIENT] < '[{"name": TOOL, "arguments": {...}}, ...]'
//
// CLIENT picks the client and how it chooses the protocol era (sdk_clients.mjs): sdk1 (the
// default), v2-pinned or v2-auto. The token comes from the environment, never argv. For mcpd's
// HTTPS gateway set NODE_EXTRA_CA_CERTS to mcpd's CA. Prints one JSON line
//   {"client", "era", "protocolVersion", "tools": [names],
//    "results": [{"name", "isError", "text", "structuredContent"}]}
// and exits 0; a transport or protocol failure prints the error on stderr and exits 1.
import {clientKinds, closeClient, newClient, readJsonStdin, resultText} from './sdk_clients.mjs';

const [url, clientKind = 'sdk1'] = process.argv.slice(2);
if (!url || !clientKinds.includes(clientKind)) {
  console.error(`usage: MCP_TOKEN=... node call_tools.mjs URL [${clientKinds.join('|')}] < CALLS.json`);
  process.exit(2);
}
const calls = await readJsonStdin([]);
const connection = await newClient(url, clientKind, 'e2e-types');
const {client, transport} = connection;
try {
  await client.connect(transport);
  // SDK 1.32 has no eras: it speaks 2025 only.
  const era = client.getProtocolEra?.() ?? 'legacy';
  const protocolVersion = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion;
  const {tools} = await client.listTools();
  const results = [];
  for (const {name, arguments: args = {}} of calls) {
    const res = await client.callTool({name, arguments: args});
    results.push({name, isError: res.isError === true, text: resultText(res), structuredContent: res.structuredContent ?? null});
  }
  await closeClient(connection);
  console.log(JSON.stringify({client: clientKind, era, protocolVersion, tools: tools.map((t) => t.name), results}));
  process.exit(0);
} catch (err) {
  console.error(`call_tools: ${err?.message ?? err}`);
  process.exit(1);
}
