// The reference MCP SDK clients the types end-to-end tests drive, set up once for
// call_tools.mjs (a batch of calls) and call_loop.mjs (one tool over and over):
//   sdk1        @modelcontextprotocol/sdk 1.32: the 2025 `initialize` handshake
//   v2-pinned   @modelcontextprotocol/client 2.4 pinned to 2026-07-28 (no fallback)
//   v2-auto     @modelcontextprotocol/client 2.4 probing with server/discover, falling back to
//               `initialize` when the server is not modern
// The bearer token comes from MCP_TOKEN in the environment, never argv.
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

export const clientKinds = Object.keys(CLIENTS);

// A client of kind `clientKind` and its Streamable HTTP transport to `url`, not yet connected.
export async function newClient(url, clientKind, name) {
  const {Client, StreamableHTTPClientTransport, options} = await CLIENTS[clientKind]();
  const headers = process.env.MCP_TOKEN ? {Authorization: `Bearer ${process.env.MCP_TOKEN}`} : {};
  const client = new Client({name, version: '0.1.0'}, options);
  const transport = new StreamableHTTPClientTransport(new URL(url), {requestInit: {headers}});
  return {client, transport};
}

// Everything on stdin, parsed as JSON (`empty` when there is nothing).
export async function readJsonStdin(empty) {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : empty;
}

// The text parts of a tool result, joined by newlines.
export function resultText(res) {
  return (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

// Ends the session on the server (DELETE; closing the client alone leaves it open there until
// it idles out), then closes the client.
export async function closeClient({client, transport}) {
  if (transport.sessionId !== undefined) await transport.terminateSession();
  await client.close();
}
