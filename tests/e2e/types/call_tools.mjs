// Calls several tools of one MCP server in one session with the reference SDK Client
// over Streamable HTTP, for the types end-to-end test (tools/mcp-call.mjs does one call
// and prints text; this one runs a batch and prints JSON the test can assert on).
//
//   MCP_TOKEN=... node tests/e2e/types/call_tools.mjs URL < '[{"name": TOOL, "arguments": {...}}, ...]'
//
// The token comes from the environment, never argv. For mcpd's HTTPS gateway set
// NODE_EXTRA_CA_CERTS to mcpd's CA. Prints one JSON line
//   {"tools": [names], "results": [{"name", "isError", "text", "structuredContent"}]}
// and exits 0; a transport or protocol failure prints the error on stderr and exits 1.
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../../../mcp-servers/node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StreamableHTTPClientTransport} = await import(pathToFileURL(`${sdk}/client/streamableHttp.js`));

const url = process.argv[2];
if (!url) {
  console.error('usage: MCP_TOKEN=... node call_tools.mjs URL < CALLS.json');
  process.exit(2);
}
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const calls = JSON.parse(Buffer.concat(chunks).toString('utf8') || '[]');

const headers = process.env.MCP_TOKEN ? {Authorization: `Bearer ${process.env.MCP_TOKEN}`} : {};
const client = new Client({name: 'e2e-types', version: '0.1.0'});
const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
try {
  await client.connect(transport);
  const {tools} = await client.listTools();
  const results = [];
  for (const {name, arguments: args = {}} of calls) {
    const res = await client.callTool({name, arguments: args});
    const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    results.push({name, isError: res.isError === true, text, structuredContent: res.structuredContent ?? null});
  }
  // DELETE the session: closing the client alone leaves it open on the server until it idles out.
  await transport.terminateSession();
  await client.close();
  console.log(JSON.stringify({tools: tools.map((t) => t.name), results}));
  process.exit(0);
} catch (err) {
  console.error(`call_tools: ${err?.message ?? err}`);
  process.exit(1);
}
