// Runs a stdio MCP server behind the shared Streamable HTTP shell (lib/server.js),
// so an MCPType with `server.transport: stdio` gets the same 127.0.0.1 listener,
// instance-token and Origin checks, /health, SIGTERM handling and JSON logs as
// every other type. mcpd needs no special case: the type's manifest launches
//
//   node lib/stdio_bridge.js [options] -- COMMAND [ARG...]
//
// options:
//   --name NAME               server name in logs (default: basename of COMMAND's script)
//   --arg-from-config KEY     append MCP_CONFIG[KEY] (a string or array of strings) to the
//                             child's arguments; repeatable; a missing key is a launch error
//   --key-env VAR             pass the instance key (API_KEY) to the child as VAR
//   --no-roots                hide the client's `roots` capability from the child, so a
//                             client cannot widen what the child may touch (filesystem)
// COMMAND and ARGs starting with "./" resolve inside the mcp-servers directory.
//
// Both protocol eras are served:
// - 2025-11-25 (sessions): each MCP session gets its own child process: a stdio server
//   speaks to exactly one client, and separate processes keep one session's state (and
//   crash) away from the others. JSON-RPC messages are relayed unchanged in both
//   directions; ids never collide because each child sees a single client.
// - 2026-07-28 (sessionless): there is no session to give a child to, so one shared child
//   answers these requests, driven by an SDK client the bridge owns (it makes the 2025
//   handshake the child understands, and its own request ids keep callers apart). Each
//   request is answered by a server forwarding the requests the child's capabilities offer;
//   server-to-client requests (sampling, elicitation, roots) do not exist in that era.
//   The shared child is started on the first such request and again after it exits.
//   What the child pushes on its own goes where the 2026-07-28 era carries it:
//   - progress: on the stream of the request whose progressToken it names;
//   - list changes (tools, prompts, resources): to the open subscriptions/listen streams
//     (the lib's ctx.notify), which is where that era's clients wait for them;
//   - log messages: on the stream of the request being answered, when exactly one is and its
//     caller asked for logs (its envelope's log level, which also filters them). Over stdio the
//     child cannot say which request a message is about, so with several in flight, or none,
//     nobody can be told it was theirs: such messages are dropped (a debug log line);
//   - anything else (resources/updated: the bridge subscribes to nothing on the shared
//     child; cancellations; task status) is dropped the same way.

import path from 'node:path';
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {Client} from '@modelcontextprotocol/client';
import {StdioClientTransport} from '@modelcontextprotocol/client/stdio';
import {Server} from '@modelcontextprotocol/server';
import {startMcpServer, EXIT_CONFIG} from './server.js';
import {readEnv, ConfigError} from './env.js';
import {awaitIdentity} from './identity.js';

const SERVERS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STDERR_LINE_MAX = 1000;

class UsageError extends Error {}

function resolveLocal(p) {
  if (!p.startsWith('./')) return p;
  const full = path.resolve(SERVERS_DIR, p);
  const rel = path.relative(SERVERS_DIR, full);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UsageError(`${p} is outside the mcp-servers directory`);
  if (!existsSync(full)) throw new UsageError(`${p} does not exist in ${SERVERS_DIR}`);
  return full;
}

function parseArgs(argv) {
  const opts = {configArgs: [], noRoots: false};
  let i = 0;
  for (; i < argv.length && argv[i] !== '--'; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length || argv[i + 1] === '--') throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--name') opts.name = value();
    else if (a === '--arg-from-config') opts.configArgs.push(value());
    else if (a === '--key-env') opts.keyEnv = value();
    else if (a === '--no-roots') opts.noRoots = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  if (argv[i] !== '--' || i + 1 >= argv.length) throw new UsageError('missing "-- COMMAND [ARG...]"');
  if (opts.keyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.keyEnv)) {
    throw new UsageError(`--key-env ${opts.keyEnv} is not an environment variable name`);
  }
  const [command, ...args] = argv.slice(i + 1).map(resolveLocal);
  opts.command = command;
  opts.args = args;
  opts.name ??= path.basename(args.find((x) => !x.startsWith('-')) ?? command).replace(/\.[cm]?js$/, '');
  return opts;
}

// Values from the instance config become the child's arguments; one starting
// with "-" would be read as an option by the child, so it is refused.
function argsFromConfig(config, keys) {
  const out = [];
  const problems = [];
  for (const key of keys) {
    const v = config[key];
    const list = typeof v === 'string' ? [v] : v;
    const strings = Array.isArray(list) && list.every((x) => typeof x === 'string');
    if (!strings || list.length === 0 || list.every((x) => x === '')) {
      problems.push(`MCP_CONFIG.${key} is required (a string or an array of strings)`);
    } else if (list.some((x) => x === '' || x.startsWith('-'))) {
      problems.push(`MCP_CONFIG.${key} values must be non-empty and not start with "-"`);
    } else {
      out.push(...list);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

function withoutRoots(msg) {
  if (msg.method !== 'initialize' || !msg.params?.capabilities?.roots) return msg;
  const {roots: _roots, ...capabilities} = msg.params.capabilities;
  return {...msg, params: {...msg.params, capabilities}};
}

const isRequest = (m) => m.method !== undefined && m.id !== undefined;
const isResponse = (m) => m.method === undefined && m.id !== undefined;

// Child pids still running, so an exit of the bridge does not leave them behind
// (mcpd also signals the whole process group on stop).
const livePids = new Set();
process.on('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
});

// A child's stdio transport; its stderr lines are logged, the last one kept as the reason
// to give when it exits.
function childTransport({opts, childArgs, ctx}) {
  const child = new StdioClientTransport({
    command: opts.command,
    args: [...opts.args, ...childArgs],
    // Merged over the SDK's short safe list (HOME, PATH, USER, ...): nothing of
    // the bridge's own launch environment (PORT, MCP_CONFIG) reaches the child.
    env: {NODE_ENV: 'production', ...(opts.keyEnv && ctx.apiKey ? {[opts.keyEnv]: ctx.apiKey} : {})},
    stderr: 'pipe',
  });
  const state = {lastStderr: ''};
  let partial = '';
  child.stderr.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop().slice(-STDERR_LINE_MAX);
    for (const line of lines) {
      if (line.trim() === '') continue;
      state.lastStderr = line.slice(0, STDERR_LINE_MAX);
      ctx.log.info('stdio server stderr', {pid: child.pid, line: state.lastStderr});
    }
  });
  return {child, state};
}

// Connects one session's HTTP transport to a fresh child over stdio.
async function relay(httpT, {opts, childArgs, ctx}) {
  const {log} = ctx;
  const {child, state} = childTransport({opts, childArgs, ctx});
  const pending = new Set(); // client request ids forwarded and not yet answered
  const progressOf = new Map(); // progressToken -> client request id
  let closed = false;
  let pid;

  async function answerPending(message) {
    const ids = [...pending];
    pending.clear();
    await Promise.allSettled(ids.map((id) => httpT.send({jsonrpc: '2.0', id, error: {code: -32000, message}})));
  }

  child.onmessage = (msg) => {
    let relatedRequestId;
    if (isResponse(msg)) {
      pending.delete(msg.id);
      for (const [token, id] of progressOf) if (id === msg.id) progressOf.delete(token);
    } else {
      // Progress goes on the stream of the request it reports on. Other server
      // requests and notifications (sampling, elicitation, logs) ride on an open
      // request's stream when there is one: the standalone GET stream may not be
      // open, and the SDK drops what it cannot deliver there.
      relatedRequestId = msg.method === 'notifications/progress' ?
        progressOf.get(msg.params?.progressToken) : undefined;
      relatedRequestId ??= [...pending].at(-1);
    }
    httpT.send(msg, {relatedRequestId}).catch((err) => log.debug('relay to client failed', {error: err.message}));
  };
  child.onerror = (err) => log.warn('stdio server transport error', {pid, error: err.message});
  child.onclose = () => {
    livePids.delete(pid);
    if (closed) return;
    closed = true;
    const {lastStderr} = state;
    log.warn('stdio server exited', {pid, lastStderr});
    const why = `stdio server exited${lastStderr ? `: ${lastStderr}` : ''}`;
    answerPending(why).finally(() => httpT.close().catch(() => {}));
  };

  httpT.onmessage = (raw) => {
    if (closed) return;
    if (opts.noRoots && raw.method === 'notifications/roots/list_changed') return;
    const msg = opts.noRoots ? withoutRoots(raw) : raw;
    if (isRequest(msg)) {
      pending.add(msg.id);
      const token = msg.params?._meta?.progressToken;
      if (token !== undefined) progressOf.set(token, msg.id);
    }
    child.send(msg).catch((err) => log.warn('relay to stdio server failed', {pid, error: err.message}));
  };
  const libOnClose = httpT.onclose;
  httpT.onclose = () => {
    libOnClose?.();
    if (closed) return;
    closed = true;
    child.close().catch(() => {});
  };

  try {
    await child.start();
  } catch (err) {
    closed = true;
    log.error('cannot start stdio server', {command: opts.command, error: err.message});
    throw err;
  }
  pid = child.pid;
  livePids.add(pid);
  log.info('stdio server started', {pid});
  await httpT.start();
  return child;
}

// The requests a 2026-07-28 caller may make of the shared child, by the capability that
// offers them.
const FORWARDED = {
  tools: ['tools/list', 'tools/call'],
  resources: ['resources/list', 'resources/templates/list', 'resources/read'],
  prompts: ['prompts/list', 'prompts/get'],
  completions: ['completion/complete'],
};

// The shared child for 2026-07-28 requests and the per-request servers forwarding to it.
function sharedChild({opts, childArgs, ctx, name}) {
  const {log} = ctx;
  let connecting; // Promise of the connected client, undefined when there is no child
  const answering = new Set(); // the mcpReq of each forwarded request being answered

  const LIST_CHANGED = {
    'notifications/tools/list_changed': (n) => n.toolsChanged(),
    'notifications/prompts/list_changed': (n) => n.promptsChanged(),
    'notifications/resources/list_changed': (n) => n.resourcesChanged(),
  };
  function fromChild(notification) {
    const {method, params} = notification;
    if (LIST_CHANGED[method] && ctx.notify) {
      LIST_CHANGED[method](ctx.notify);
      return;
    }
    if (method === 'notifications/message' && answering.size === 1 && params?.level) {
      const [mcpReq] = answering;
      // mcpReq.log sends only to a caller that asked for logs, at or above its level.
      mcpReq.log(params.level, params.data, params.logger).catch(() => {});
      return;
    }
    log.debug('dropped a notification of the shared stdio server', {method, answering: answering.size});
  }

  function connect() {
    connecting ??= (async () => {
      const {child, state} = childTransport({opts, childArgs, ctx});
      // No roots capability: the child keeps the directories it was started with.
      const client = new Client({name: `minimcp-bridge-${name}`, version: '0.1.0'});
      client.fallbackNotificationHandler = async (n) => fromChild(n);
      let pid;
      client.onclose = () => {
        livePids.delete(pid);
        connecting = undefined;
        log.warn('shared stdio server exited', {pid, lastStderr: state.lastStderr});
      };
      try {
        await client.connect(child);
      } catch (err) {
        log.error('cannot start the shared stdio server', {command: opts.command, error: err.message,
          lastStderr: state.lastStderr});
        await client.close().catch(() => {});
        // The same reason a 2025 session gets when its child exits.
        throw Object.assign(new Error(`stdio server exited${state.lastStderr ? `: ${state.lastStderr}` : ''}`),
            {expose: true});
      }
      pid = child.pid;
      livePids.add(pid);
      log.info('shared stdio server started', {pid});
      return client;
    })().catch((err) => {
      connecting = undefined;
      throw err;
    });
    return connecting;
  }

  return async function createServer() {
    const client = await connect();
    const offered = client.getServerCapabilities() ?? {};
    const capabilities = {};
    for (const cap of Object.keys(FORWARDED)) {
      if (!offered[cap]) continue;
      // listChanged lets a subscriptions/listen caller ask for the child's list changes.
      capabilities[cap] = offered[cap].listChanged === true ? {listChanged: true} : {};
    }
    if (offered.logging) capabilities.logging = {};
    const info = client.getServerVersion();
    const server = new Server({name: info?.name ?? name, version: info?.version ?? '0.0.0'}, {capabilities});
    for (const cap of Object.keys(FORWARDED).filter((c) => capabilities[c])) {
      for (const method of FORWARDED[cap]) {
        server.setRequestHandler(method, (request, {mcpReq}) => {
          // The caller's envelope stays here: the child speaks 2025-11-25 to our client.
          const {_meta: meta, ...params} = request.params ?? {};
          const progressToken = meta?.progressToken;
          answering.add(mcpReq);
          return client.request({method, params}, {
            signal: mcpReq.signal,
            ...(progressToken !== undefined ? {
              onprogress: (p) => mcpReq.notify({method: 'notifications/progress', params: {...p, progressToken}})
                  .catch(() => {}),
            } : {}),
          }).finally(() => answering.delete(mcpReq));
        });
      }
    }
    return server;
  };
}

async function main() {
  let opts;
  let childArgs = [];
  awaitIdentity(); // a warm-pool process: its instance's environment first
  try {
    opts = parseArgs(process.argv.slice(2));
    // The lib reports launch-environment problems itself; here only our own keys
    // are checked, so one bad launch still gives one clear message.
    let settings;
    try {
      settings = readEnv(process.env, {authEnv: opts.keyEnv ? 'API_KEY' : undefined});
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
    if (settings) childArgs = argsFromConfig(settings.config, opts.configArgs);
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof ConfigError)) throw e;
    process.stderr.write(`stdio_bridge: refusing to start: ${e.message}\n`);
    process.exit(EXIT_CONFIG);
  }

  let createShared;
  await startMcpServer({
    name: opts.name,
    authEnv: opts.keyEnv ? 'API_KEY' : undefined,
    async connectSession(transport, ctx) {
      return relay(transport, {opts, childArgs, ctx});
    },
    createServer(ctx) {
      createShared ??= sharedChild({opts, childArgs, ctx, name: opts.name});
      return createShared();
    },
  });
}

await main();
