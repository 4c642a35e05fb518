// A real MCP client (the reference SDK's Client over Streamable HTTP) for the gateway tests.
//   node mcp_client.mjs URL ACTION       token in $MCP_TOKEN (never in argv); prints one JSON line
// ACTION:
//   basic   initialize + tools/list + tools/call echo
//   stream  tools/call stream {count: 5, intervalMs: 150}: when each notification and the result
//           arrived (ms since the call), to show that the SSE response is relayed as produced
// Exit 0 with {"ok":true,...}; exit 1 with {"ok":false,"error","status"} (HTTP status if known).
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(process.env.MINIMCP_MCP_SERVERS_DIR || resolve(here, '../../../mcp-servers'),
    'node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StreamableHTTPClientTransport} = await import(pathToFileURL(`${sdk}/client/streamableHttp.js`));
const {LoggingMessageNotificationSchema} = await import(pathToFileURL(`${sdk}/types.js`));

const [url, action = 'basic'] = process.argv.slice(2);
const token = process.env.MCP_TOKEN || '';
const headers = token ? {Authorization: `Bearer ${token}`} : {};
if (process.env.MCP_ORIGIN) headers.Origin = process.env.MCP_ORIGIN;

function print(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
const client = new Client({name: 'gateway-test', version: '0.0.0'});
try {
  await client.connect(transport);
  if (action === 'basic') {
    const tools = await client.listTools();
    const res = await client.callTool({name: 'echo', arguments: {text: 'hello through the gateway'}});
    print({
      ok: true,
      server: client.getServerVersion()?.name,
      sessionId: transport.sessionId ?? null,
      protocolVersion: transport.protocolVersion ?? null,
      tools: tools.tools.map((t) => t.name),
      echo: res.content?.[0]?.text,
    });
  } else if (action === 'stream') {
    const t0 = performance.now();
    const since = () => Math.round(performance.now() - t0);
    const messages = [];
    const progress = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, () => messages.push(since()));
    const res = await client.callTool({name: 'stream', arguments: {count: 5, intervalMs: 150}},
        undefined, {onprogress: () => progress.push(since())});
    print({ok: true, messages, progress, resultAt: since(), result: res.content?.[0]?.text});
  } else {
    throw new Error(`unknown action ${action}`);
  }
  await client.close();
  process.exit(0);
} catch (err) {
  print({ok: false, error: String(err?.message ?? err), status: err?.code ?? null});
  process.exit(1);
}
