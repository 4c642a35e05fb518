// A stdio MCP client (the reference SDK's Client over StdioClientTransport), started the way a
// desktop client starts a server from its configuration file.
//   node stdio_client.mjs CONFIG.json SERVER [TEXT]
// Spawns mcpServers[SERVER] of CONFIG.json (command, args, env over the SDK's default
// environment) in $CLIENT_CWD, then initialize + tools/list + tools/call echo {text: TEXT}.
// Prints one JSON line: {"ok":true,"tools":[...],"echo":"..."} or {"ok":false,"error",
// "closed": whether the server process ended by itself, "elapsedMs", "stderr": its last output}.
import {readFileSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(process.env.MINIMCP_MCP_SERVERS_DIR || resolve(here, '../../../mcp-servers'),
    'node_modules/@modelcontextprotocol/sdk/dist/esm');
const {Client} = await import(pathToFileURL(`${sdk}/client/index.js`));
const {StdioClientTransport, getDefaultEnvironment} =
    await import(pathToFileURL(`${sdk}/client/stdio.js`));

const [configFile, name, text = 'hello through mcp-remote'] = process.argv.slice(2);
const server = JSON.parse(readFileSync(configFile, 'utf8')).mcpServers[name];
const transport = new StdioClientTransport({
  command: server.command,
  args: server.args,
  env: {...getDefaultEnvironment(), ...server.env},
  cwd: process.env.CLIENT_CWD || process.cwd(),
  stderr: 'pipe',
});
let stderr = '';
transport.stderr?.on('data', (d) => {
  stderr = (stderr + d.toString()).slice(-4000);
});
let closed = false;
const start = Date.now();
const client = new Client({name: 'minimcp-stdio-test', version: '0.0.0'});
client.onclose = () => {
  closed = true;
};

function print(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

try {
  await client.connect(transport, {timeout: 60000});
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const result = await client.callTool({name: 'echo', arguments: {text}});
  print({ok: true, tools, echo: result.content?.[0]?.text});
  await client.close();
  process.exit(0);
} catch (err) {
  // Let the last of the server's output arrive.
  await new Promise((r) => setTimeout(r, 200));
  print({ok: false, error: String(err?.message || err), closed, elapsedMs: Date.now() - start,
    stderr});
  await client.close().catch(() => {});
  process.exit(1);
}
