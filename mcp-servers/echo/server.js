// The echo MCPType: the smallest real MCP server, used by MiniMCP's own tests.
// `echo` returns its input unchanged. With MCP_CONFIG {"testHooks": true} it
// also offers hooks that let integration tests drive failure paths of the
// reconciler and gateway: crash, hang (health), allocate (memory), stream (SSE).

import * as z from 'zod';
import {startMcpServer} from '../lib/index.js';

const MIB = 1024 * 1024;
const SIGNALS = ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGABRT', 'SIGSEGV'];

// Held for the life of the process: the point of `allocate` is resident memory.
const held = [];
let heldMiB = 0;

const text = (t) => ({content: [{type: 'text', text: t}]});
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
});

function registerTools(mcp, ctx) {
  mcp.registerTool('echo', {
    description: 'Returns the given text unchanged',
    inputSchema: z.object({text: z.string()}),
  }, async ({text: t}) => text(t));

  if (ctx.config.testHooks !== true) return;

  mcp.registerTool('crash', {
    description: 'Test hook: exit the process with the given code, or kill it with a signal',
    inputSchema: z.object({
      code: z.number().int().min(0).max(255).optional(),
      signal: z.enum(SIGNALS).optional(),
    }),
  }, async ({code = 1, signal}) => {
    ctx.log.warn('crash requested', {code, signal});
    // Let the reply reach the client first: a crash test wants the exit, not a hung call.
    setTimeout(() => {
      if (signal) process.kill(process.pid, signal);
      else process.exit(code);
    }, 50);
    return text(signal ? `killing with ${signal}` : `exiting with code ${code}`);
  });

  mcp.registerTool('hang', {
    description: 'Test hook: make /health never answer (hang), answer 503 (unhealthy), or recover (ok)',
    inputSchema: z.object({mode: z.enum(['hang', 'unhealthy', 'ok']).optional()}),
  }, async ({mode = 'hang'}) => {
    ctx.health.setMode(mode);
    return text(`health mode ${mode}`);
  });

  mcp.registerTool('allocate', {
    description: 'Test hook: allocate N MiB of resident memory and hold it',
    inputSchema: z.object({mib: z.number().int().min(1).max(16384)}),
  }, async ({mib}) => {
    for (let i = 0; i < mib; i++) {
      // fill() touches every page, so the memory is resident, not just reserved.
      held.push(Buffer.allocUnsafe(MIB).fill(0xa5));
      heldMiB++;
    }
    ctx.log.info('allocated', {mib, heldMiB});
    return text(`holding ${heldMiB} MiB`);
  });

  mcp.registerTool('stream', {
    description: 'Test hook: send N progress and log notifications spaced by intervalMs, then return',
    inputSchema: z.object({
      count: z.number().int().min(1).max(1000).optional(),
      intervalMs: z.number().int().min(0).max(60000).optional(),
    }),
  }, async ({count = 5, intervalMs = 100}, {mcpReq}) => {
    const progressToken = mcpReq._meta?.progressToken;
    for (let i = 1; i <= count; i++) {
      if (mcpReq.signal.aborted) return {...text(`cancelled at ${i}`), isError: true};
      if (progressToken !== undefined) {
        await mcpReq.notify({
          method: 'notifications/progress',
          params: {progressToken, progress: i, total: count, message: `tick ${i}/${count}`},
        });
      }
      await mcpReq.notify({
        method: 'notifications/message',
        params: {level: 'info', logger: 'echo', data: {tick: i, of: count}},
      });
      if (i < count) await sleep(intervalMs, mcpReq.signal);
    }
    return text(`streamed ${count}`);
  });
}

await startMcpServer({name: 'echo', version: '0.1.0', registerTools});
