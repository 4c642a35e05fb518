// A stdio MCP server (SDK 1.32) that pushes notifications on its own, for the stdio bridge's
// tests: `log` sends a log message before it answers, `add_tool` registers another tool (the
// SDK then sends notifications/tools/list_changed), `hold` reports progress 0 at once and
// answers when `release` is called.
// For tests only: it lives in lib/ (as fake_upstream.js does) so that `node --test` does not run it.
import * as z from 'zod';
import {McpServer} from '@modelcontextprotocol/sdk/server/mcp.js';
import {StdioServerTransport} from '@modelcontextprotocol/sdk/server/stdio.js';

const server = new McpServer({name: 'notifying', version: '0.0.1'},
  {capabilities: {logging: {}, tools: {listChanged: true}}});
let added = 0;

server.registerTool('log', {inputSchema: {text: z.string()}}, async ({text}) => {
  await server.server.sendLoggingMessage({level: 'info', logger: 'notifying', data: text});
  return {content: [{type: 'text', text: `logged ${text}`}]};
});
server.registerTool('add_tool', {}, async () => {
  const name = `added_${++added}`;
  server.registerTool(name, {}, async () => ({content: [{type: 'text', text: name}]}));
  return {content: [{type: 'text', text: name}]};
});
let release;
const released = new Promise((r) => { release = r; });
server.registerTool('hold', {}, async (extra) => { // no inputSchema: the SDK passes only extra
  const progressToken = extra._meta?.progressToken;
  if (progressToken !== undefined) {
    await extra.sendNotification({method: 'notifications/progress', params: {progressToken, progress: 0}});
  }
  await released;
  return {content: [{type: 'text', text: 'released'}]};
});
server.registerTool('release', {}, async () => {
  release();
  return {content: [{type: 'text', text: 'ok'}]};
});

await server.connect(new StdioServerTransport());
