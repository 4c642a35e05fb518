// Calls one tool of an MCP server with the reference SDK Client over Streamable HTTP.
//   MCP_TOKEN=... node tools/mcp-call.mjs URL TOOL [JSON-ARGUMENTS]
// The token comes from the environment, never argv (argv is visible in /proc to every user).
// For mcpd's HTTPS gateway set NODE_EXTRA_CA_CERTS to mcpd's CA (DATA_DIR/tls/ca.crt).
// Prints the tool list and the call's text result; exits 1 on any error.
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../mcp-servers/node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StreamableHTTPClientTransport} = await import(pathToFileURL(`${sdk}/client/streamableHttp.js`));

const [url, tool, args = '{}'] = process.argv.slice(2);
if (!url || !tool) {
  console.error('usage: MCP_TOKEN=... node tools/mcp-call.mjs URL TOOL [JSON-ARGUMENTS]');
  process.exit(2);
}
const headers = process.env.MCP_TOKEN ? {Authorization: `Bearer ${process.env.MCP_TOKEN}`} : {};
const client = new Client({name: 'mcp-call', version: '0.1.0'});
try {
  const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
  await client.connect(transport);
  const {tools} = await client.listTools();
  console.log(`tools: ${tools.map((t) => t.name).join(', ')}`);
  const res = await client.callTool({name: tool, arguments: JSON.parse(args)});
  const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  console.log(`${tool} → ${text}`);
  // Ends the session on the server (else it lingers until its idle timeout).
  await transport.terminateSession();
  await client.close();
  process.exit(res.isError ? 1 : 0);
} catch (err) {
  console.error(`mcp-call: ${err?.message ?? err}`);
  process.exit(1);
}
