// The gateway benchmark's own sessionless MCP server (protocol 2026-07-28, SDK v2
// `@modelcontextprotocol/server` createMcpHandler) with one tool, `echo`, for as long as the
// echo MCPType speaks only 2025-11-25. GET /health answers 200; /mcp demands
// `Authorization: Bearer $MCP_ACCESS_TOKEN` (401). Listens on 127.0.0.1:$PORT; SIGTERM exits.
// Started by the gateway integration test's Benchmark (tools/bench/gateway.sh).
import http from 'node:http';
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(process.env.MINIMCP_MCP_SERVERS_DIR || resolve(here, '../../mcp-servers'),
    'node_modules');
const {McpServer, createMcpHandler} = await import(
    pathToFileURL(`${modules}/@modelcontextprotocol/server/dist/index.mjs`));
const z = await import(pathToFileURL(`${modules}/zod/index.js`));

const token = process.env.MCP_ACCESS_TOKEN || '';
if (!token) throw new Error('MCP_ACCESS_TOKEN is required');

const factory = () => {
  const mcp = new McpServer({name: 'bench-echo-v2', version: '0.0.0'}, {capabilities: {tools: {}}});
  mcp.registerTool('echo', {
    description: 'Returns the given text unchanged',
    inputSchema: z.object({text: z.string()}),
  }, async ({text}) => ({content: [{type: 'text', text}]}));
  return mcp;
};
const handler = createMcpHandler(factory, {legacy: 'reject'});

const server = http.createServer(async (req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, {'Content-Type': 'application/json'}).end('{"status":"healthy"}');
    return;
  }
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, {'Content-Type': 'application/json'}).end(
        '{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Unauthorized"}}');
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name !== 'connection' && name !== 'keep-alive' && name !== 'content-length' &&
        name !== 'transfer-encoding') {
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
  }
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  const response = await handler.fetch(new Request(`http://127.0.0.1${req.url}`, {
    method: req.method, headers, body: req.method === 'POST' ? body : undefined}));
  const out = {};
  response.headers.forEach((v, k) => { out[k] = v; });
  res.writeHead(response.status, out);
  if (!response.body) return res.end();
  const reader = response.body.getReader();
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    res.write(value);
  }
  res.end();
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
