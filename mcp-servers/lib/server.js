// The HTTP shell every MiniMCP instance server shares (docs/architecture.md):
//   GET /health  -> 200 {"status":"healthy","mcpId","uptimeSeconds"}; no auth, nothing secret
//                   (200 {"status":"degraded",...,"reason"} while a type's upstream is unreachable;
//                   "key": {"available": false, "reason"} while the upstream refuses the key for
//                   good, e.g. RefreshTokenRejected: mcpd sets KeyAvailable=False from it)
//   /mcp         -> MCP Streamable HTTP in both protocol eras, Host and Origin checked (403), then
//                   `Authorization: Bearer $MCP_ACCESS_TOKEN` (401):
//                   2026-07-28: sessionless, one POST per request (`server/discover`, the
//                     `Mcp-Method`/`Mcp-Name` headers, the per-request `_meta` envelope), each
//                     answered by a fresh McpServer (SDK v2 createMcpHandler);
//                   2025-11-25 and older: stateful sessions (`initialize`, Mcp-Session-Id;
//                     POST, GET SSE, DELETE) on the SDK v2 Web-standard transport.
//                   The SDK's own classification (isLegacyRequest) picks the era per request.
// A warm-pool process (MCP_IDENTITY_FD set) waits for its instance's environment before any of
// this (identity.js); it then serves exactly as one launched with that environment.
// Listens on 127.0.0.1 only. SIGTERM/SIGINT close every session's streams and the
// listener, destroy what is still open after a short deadline, and exit 0.
//
// Exit codes: 0 clean stop, 1 unexpected error, 2 bad launch environment,
// 3 cannot listen (port taken). mcpd can tell a launch problem from a crash.

import http from 'node:http';
import {randomUUID} from 'node:crypto';
import {
  McpServer,
  WebStandardStreamableHTTPServerTransport,
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
} from '@modelcontextprotocol/server';
import {ConfigError, readEnv} from './env.js';
import {awaitIdentity} from './identity.js';
import {createLogger} from './log.js';
import {bearerMatches, hostAllowed, originAllowed} from './security.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_CONFIG = 2;
export const EXIT_LISTEN = 3;

const DEFAULTS = {
  maxSessions: 64,
  maxBodyBytes: 4 * 1024 * 1024,
  sessionIdleTimeoutMs: 30 * 60 * 1000,
  // Well under the smallest stopGracePeriodSeconds a type would set, so the
  // process exits on its own before mcpd escalates to SIGKILL.
  shutdownDeadlineMs: 1000,
};

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function rpcError(res, status, code, message, headers, id = null) {
  sendJson(res, status, {jsonrpc: '2.0', error: {code, message}, id}, headers);
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve({tooLarge: true});
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c) => {
      if (tooLarge) return;
      size += c.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? {tooLarge: true} : {text: Buffer.concat(chunks).toString('utf8')}));
    req.on('error', reject);
  });
}

// Hop-by-hop headers and the framing of the original body: the Request gets its own.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

// The Web-standard Request the SDK v2 transports take, built from a Node request whose body
// was already read (bounded) as `text`. Its signal aborts when the client goes away.
function toWebRequest(req, res, text) {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (!NOT_FORWARDED.has(req.rawHeaders[i].toLowerCase())) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const aborter = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  return new Request(`http://127.0.0.1${req.url}`, {
    method: req.method,
    headers,
    body: text === undefined ? undefined : text,
    signal: aborter.signal,
  });
}

// Writes a Web-standard Response to `res`, streaming its body (SSE frames are written as
// they come, so a stream's headers go out before its first event).
async function sendWebResponse(res, response) {
  const headers = {};
  response.headers.forEach((v, k) => { headers[k] = v; });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  res.on('close', () => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch { /* the stream was cancelled or errored: end what was sent */ }
  res.end();
}

// Options:
//   name, version       reported in the MCP initialize result
//   authEnv             the MCPType's spec.auth.env (undefined for auth type none)
//   registerTools(mcp, ctx)
//                       called on every fresh McpServer (one per 2025 session, one per 2026-07-28
//                       request); ctx is shared:
//                       {config, mcpId, apiKey, log, health: {setMode(mode, reason?), mode,
//                        setKey({available, reason?})}, shutdown(code),
//                        notify (the 2026-07-28 listen streams' toolsChanged(), promptsChanged(), ...)}
//   connectSession(transport, ctx)
//                       optional, replaces the McpServer of a 2025 session: wires the session's
//                       transport itself and resolves to {close()} (the stdio bridge relays it)
//   createServer(ctx)   optional, replaces the McpServer answering one 2026-07-28 request; an
//                       error it throws with `expose: true` is answered to the client (502)
//   sessionTransportOptions()
//                       optional, more options for each 2025 session's transport (e.g. an
//                       eventStore and retryInterval for resumable streams)
//   env                 defaults to process.env
//   listenPort          listen there instead of on PORT (0: a free port; the pool's warm-up)
//   exitOnSignal        install SIGTERM/SIGINT handlers and exit (default true)
// Returns a promise of {port, close()} once listening (tests embed it with exitOnSignal false).
export async function startMcpServer(options) {
  const {name, version = '0.1.0', authEnv, registerTools, env = process.env, exitOnSignal = true} = options;
  const newMcpServer = () => {
    const mcp = new McpServer({name, version}, {capabilities: {logging: {}, tools: {}}});
    registerTools(mcp, ctx);
    return mcp;
  };
  const connectSession = options.connectSession ?? (async (transport) => {
    const mcp = newMcpServer();
    await mcp.connect(transport);
    return mcp;
  });
  const createServer = options.createServer ?? newMcpServer;

  // A warm-pool process gets its instance here, its code already loaded (identity.js) and its
  // request path already run once (warmUp).
  if (env === process.env && env.MCP_IDENTITY_FD !== undefined) await warmUp(name);
  awaitIdentity(env);
  let settings;
  try {
    settings = readEnv(env, {authEnv});
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${name}: refusing to start: ${e.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const {port, mcpId, accessToken, config, logLevel, apiKey, api} = settings;
  const limits = {...DEFAULTS};
  for (const k of Object.keys(DEFAULTS)) {
    if (Number.isFinite(config[k]) && config[k] > 0) limits[k] = config[k];
  }

  const log = createLogger({level: logLevel, base: {server: name, mcpId}});
  log.addSecret(accessToken);
  if (apiKey) log.addSecret(apiKey);
  // Keep secrets out of anything this process might spawn or dump later.
  if (env === process.env) {
    delete process.env.MCP_ACCESS_TOKEN;
    if (authEnv) delete process.env[authEnv];
  }

  const startedAt = process.hrtime.bigint();
  const sessions = new Map(); // sessionId -> {transport, mcp, lastActive, open}
  const pendingHealth = new Set(); // /health responses held open while hung
  // degraded: alive but its upstream is unreachable; still 200 so the prober does
  // not restart a healthy process over a network blip.
  let healthMode = 'ok'; // ok | degraded | unhealthy | hang
  let healthReason;
  let keyState; // {available: false, reason} while the key is refused for good
  let shuttingDown = false;

  const ctx = {
    name,
    config,
    mcpId,
    apiKey,
    // mcpd's API and the instance's own token for it (oauth2.js reports rotated refresh tokens).
    api: {...api, accessToken},
    log,
    health: {
      setMode(mode, reason) {
        if (!['ok', 'degraded', 'unhealthy', 'hang'].includes(mode)) throw new Error(`unknown health mode ${mode}`);
        const changed = mode !== healthMode;
        healthMode = mode;
        healthReason = mode === 'ok' || typeof reason !== 'string' ? undefined : reason.slice(0, 200);
        if (changed) log.warn('health mode changed', {healthMode: mode, reason: healthReason});
        if (mode !== 'hang') {
          for (const res of pendingHealth) answerHealth(res);
          pendingHealth.clear();
        }
      },
      get mode() { return healthMode; },
      setKey({available, reason} = {}) {
        const next = available === false ? {available: false, reason: String(reason ?? 'KeyRejected').slice(0, 64)} : undefined;
        if (JSON.stringify(next) !== JSON.stringify(keyState)) log.warn('key state changed', {key: next ?? {available: true}});
        keyState = next;
      },
    },
    shutdown: (code = EXIT_OK) => shutdown(code, 'requested'),
  };

  function answerHealth(res) {
    const uptimeSeconds = Number((process.hrtime.bigint() - startedAt) / 1000000n) / 1000;
    const key = keyState ? {key: keyState} : {};
    if (healthMode === 'ok' && !shuttingDown) {
      sendJson(res, 200, {status: 'healthy', mcpId, uptimeSeconds, ...key});
    } else if (healthMode === 'degraded' && !shuttingDown) {
      sendJson(res, 200, {status: 'degraded', mcpId, uptimeSeconds, ...(healthReason ? {reason: healthReason} : {}), ...key});
    } else {
      sendJson(res, 503, {status: shuttingDown ? 'terminating' : 'unhealthy', mcpId, uptimeSeconds});
    }
  }

  function handleHealth(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, {error: 'method not allowed'}, {Allow: 'GET, HEAD'});
      return;
    }
    if (healthMode === 'hang' && !shuttingDown) {
      // Never answered: lets tests drive the prober's timeout path.
      pendingHealth.add(res);
      res.on('close', () => pendingHealth.delete(res));
      return;
    }
    answerHealth(res);
  }

  // Session state is registered only once the SDK has assigned the session id.
  async function newSessionTransport() {
    let mcp;
    let inflight;
    const transport = new WebStandardStreamableHTTPServerTransport({
      ...options.sessionTransportOptions?.(),
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: limits.maxBodyBytes,
      onsessioninitialized: (sid) => {
        sessions.set(sid, {transport, mcp, inflight, lastActive: Date.now(), open: 0});
        log.info('session opened', {sessions: sessions.size});
      },
    });
    transport.onclose = () => {
      const sid = transport.sessionId;
      if (sid && sessions.delete(sid)) log.info('session closed', {sessions: sessions.size});
    };
    transport.onerror = (err) => log.debug('transport error', {error: err.message});
    mcp = await connectSession(transport, ctx);
    inflight = trackInflight(transport);
    return transport;
  }

  // Requests still being handled per transport, so a shutdown can answer them
  // with an error instead of ending their streams silently: SDK clients would
  // otherwise wait for their own request timeout (60 s by default).
  function trackInflight(transport) {
    const inflight = new Set();
    const onmessage = transport.onmessage;
    transport.onmessage = (msg, extra) => {
      if (msg && msg.method !== undefined && msg.id !== undefined) inflight.add(msg.id);
      onmessage?.(msg, extra);
    };
    const send = transport.send.bind(transport);
    transport.send = (msg, opts) => {
      if (msg && msg.id !== undefined && msg.method === undefined) inflight.delete(msg.id);
      return send(msg, opts);
    };
    return inflight;
  }

  // The 2026-07-28 counterpart: the request's own server sends the error as its terminal
  // message, so the client's call settles (its stream ending alone leaves the SDK v2 client
  // waiting for its request timeout).
  async function failModernInflight() {
    await Promise.allSettled([...modernOpen].map(async ([request, id]) => {
      const server = await modernServers.get(request);
      const protocol = server instanceof McpServer ? server.server : server;
      await protocol?.transport?.send({jsonrpc: '2.0', id, error: {code: -32000, message: 'Server shutting down'}},
          {relatedRequestId: id});
    }));
  }

  async function failInflight(session) {
    const ids = [...session.inflight];
    await Promise.allSettled(ids.map((id) => session.transport.send(
        {jsonrpc: '2.0', id, error: {code: -32000, message: 'Server shutting down'}}, {relatedRequestId: id})));
  }

  function track(session, res) {
    session.lastActive = Date.now();
    session.open++;
    res.on('close', () => {
      session.open--;
      session.lastActive = Date.now();
    });
  }

  async function handleMcp(req, res) {
    if (!hostAllowed(req.headers.host)) {
      log.warn('rejected host', {host: String(req.headers.host).slice(0, 200)});
      rpcError(res, 403, -32000, 'Forbidden: Host not allowed');
      return;
    }
    if (!originAllowed(req.headers.origin, config.allowedOrigins)) {
      log.warn('rejected origin', {origin: String(req.headers.origin).slice(0, 200)});
      rpcError(res, 403, -32000, 'Forbidden: Origin not allowed');
      return;
    }
    if (!bearerMatches(req.headers.authorization, accessToken)) {
      log.info('rejected request without a valid bearer token', {method: req.method});
      rpcError(res, 401, -32000, 'Unauthorized: missing or invalid bearer token',
          {'WWW-Authenticate': 'Bearer realm="minimcp"'});
      return;
    }
    if (shuttingDown) {
      rpcError(res, 503, -32000, 'Server shutting down', {Connection: 'close'});
      return;
    }
    if (!['POST', 'GET', 'DELETE'].includes(req.method)) {
      rpcError(res, 405, -32000, 'Method not allowed', {Allow: 'GET, POST, DELETE'});
      return;
    }

    let parsedBody;
    let text;
    if (req.method === 'POST') {
      const body = await readBody(req, limits.maxBodyBytes);
      if (body.tooLarge) {
        rpcError(res, 413, -32000, `Request body exceeds ${limits.maxBodyBytes} bytes`);
        return;
      }
      text = body.text;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        rpcError(res, 400, -32700, 'Parse error: Invalid JSON');
        return;
      }
    }
    const request = toWebRequest(req, res, text);

    if (req.method === 'POST' && !(await isLegacyRequest(request, parsedBody, {maxRequestBodySize: limits.maxBodyBytes}))) {
      await handleModern(request, res, parsedBody);
      return;
    }

    const sid = req.headers['mcp-session-id'];
    const session = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (session) {
      track(session, res);
      await sendWebResponse(res, await session.transport.handleRequest(request, {parsedBody}));
      return;
    }
    if (sid !== undefined) {
      rpcError(res, 404, -32001, 'Session not found');
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(parsedBody)) {
      rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
      return;
    }
    if (sessions.size >= limits.maxSessions) {
      rpcError(res, 503, -32000, 'Too many open sessions');
      return;
    }
    const transport = await newSessionTransport();
    await sendWebResponse(res, await transport.handleRequest(request, {parsedBody}));
  }

  // 2026-07-28: no session to find or create; the SDK validates the envelope and headers,
  // builds a server for this one request and answers it (JSON, or SSE when it notifies first).
  const modernServers = new Map(); // Request -> promise of the server answering it
  const modern = createMcpHandler(({requestInfo}) => {
    const server = Promise.resolve(createServer(ctx));
    if (requestInfo) modernServers.set(requestInfo, server);
    return server;
  }, {
    legacy: 'reject',
    maxRequestBodySize: limits.maxBodyBytes,
    onerror: (err) => log.debug('modern request refused or failed', {error: err.message}),
  });
  // Publishes list-changed events to the open 2026-07-28 subscriptions/listen streams.
  ctx.notify = modern.notify;
  const modernOpen = new Map(); // Request -> JSON-RPC id, for 2026-07-28 requests being answered

  async function handleModern(request, res, parsedBody) {
    if (parsedBody?.id !== undefined && parsedBody?.method !== undefined) modernOpen.set(request, parsedBody.id);
    res.on('close', () => {
      modernOpen.delete(request);
      modernServers.delete(request);
    });
    let response;
    try {
      response = await modern.fetch(request, {parsedBody});
    } catch (err) {
      // A shutdown tears down in-flight exchanges: say so rather than end the response silently.
      if (shuttingDown) rpcError(res, 503, -32000, 'Server shutting down', {Connection: 'close'});
      else throw err;
      return;
    }
    // A server that could not be built for this request (createServer threw an error meant
    // for the client, e.g. the stdio bridge's child failing to start) is reported as such,
    // not as the SDK's bare 500.
    const failed = await modernServers.get(request)?.then(() => undefined, (err) => err);
    if (failed?.expose === true) {
      await response.body?.cancel();
      rpcError(res, 502, -32000, failed.message, {}, parsedBody?.id ?? null);
      return;
    }
    await sendWebResponse(res, response);
  }

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    if (log.enabled('debug')) {
      res.on('finish', () => log.debug('request', {
        method: req.method,
        path: req.url.split('?')[0],
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - t0) / 1e6,
      }));
    }
    const path = (req.url || '/').split('?')[0];
    let work;
    if (path === '/health') {
      handleHealth(req, res);
      return;
    } else if (path === '/mcp' || path === '/mcp/') {
      work = handleMcp(req, res);
    } else {
      sendJson(res, 404, {error: 'not found'});
      return;
    }
    work.catch((err) => {
      log.error('request failed', {error: err});
      rpcError(res, 500, -32603, 'Internal server error');
    });
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const idleReaper = setInterval(() => {
    const now = Date.now();
    for (const [sid, s] of sessions) {
      if (s.open === 0 && now - s.lastActive > limits.sessionIdleTimeoutMs) {
        log.info('closing idle session');
        sessions.delete(sid);
        s.transport.close().catch(() => {});
      }
    }
  }, Math.min(60000, limits.sessionIdleTimeoutMs)).unref();

  let closing;
  async function close() {
    if (closing) return closing;
    shuttingDown = true;
    clearInterval(idleReaper);
    closing = (async () => {
      const serverClosed = new Promise((resolve) => server.close(resolve));
      const all = [...sessions.values()];
      sessions.clear();
      // Closing a transport ends its SSE streams, so clients see a clean end of stream.
      await Promise.allSettled(all.map(async (s) => {
        await failInflight(s);
        await s.transport.close();
        await s.mcp?.close();
      }));
      await failModernInflight();
      await modern.close().catch(() => {});
      for (const res of pendingHealth) res.destroy();
      pendingHealth.clear();
      server.closeIdleConnections();
      const deadline = new Promise((resolve) => {
        setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, limits.shutdownDeadlineMs).unref();
      });
      await Promise.race([serverClosed, deadline]);
    })();
    return closing;
  }

  async function shutdown(code, reason) {
    if (shuttingDown && closing) return;
    log.info('shutting down', {reason, sessions: sessions.size});
    // A stuck close must not keep the process alive past the grace period.
    setTimeout(() => process.exit(code), limits.shutdownDeadlineMs + 500).unref();
    try {
      await close();
    } catch (err) {
      log.error('error during shutdown', {error: err});
    }
    log.info('stopped');
    process.exit(code);
  }

  if (exitOnSignal) {
    for (const sig of ['SIGTERM', 'SIGINT']) {
      process.on(sig, () => {
        if (shuttingDown) process.exit(EXIT_OK); // a second signal: stop waiting
        shutdown(EXIT_OK, sig);
      });
    }
    process.on('uncaughtException', (err) => {
      log.error('uncaught exception', {error: err, stack: err?.stack});
      process.exit(EXIT_ERROR);
    });
    process.on('unhandledRejection', (err) => {
      log.error('unhandled rejection', {error: err, stack: err?.stack});
      process.exit(EXIT_ERROR);
    });
  }

  const listenPort = options.listenPort ?? port;
  await new Promise((resolve) => {
    server.once('error', (err) => {
      log.error('cannot listen', {host: '127.0.0.1', port, error: err});
      process.stderr.write(`${name}: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
      process.exit(EXIT_LISTEN);
    });
    server.listen({host: '127.0.0.1', port: listenPort}, resolve);
  });
  server.on('error', (err) => log.error('server error', {error: err}));
  const bound = server.address().port;
  log.info('listening', {host: '127.0.0.1', port: bound, pid: process.pid});

  return {port: bound, ctx, close};
}

// One request over loopback to the warm-up server; resolves to {status, headers, body}.
function loopbackRequest(port, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method, path: '/mcp', headers, timeout: 5000}, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: text}));
    });
    req.on('timeout', () => req.destroy(new Error('warm-up request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

// A warm-pool process has time before its instance arrives and none after: the first request
// of a freshly started node process costs several times a later one (its code is compiled on
// first use). So it runs the request path once (HTTP, the session transport, the protocol, a
// tool call with a schema) against a throwaway server of its own: an ephemeral port, a random
// token, no config, and a tool of its own rather than the type's, so that no upstream is called
// and no key is needed. Nothing of it outlives the warm-up; a failure only costs the speed-up.
async function warmUp(name) {
  const {z} = await import('zod');
  const token = randomUUID();
  let s;
  try {
    s = await startMcpServer({
      name,
      env: {PORT: '65535', MCP_ID: 'warm-up', MCP_ACCESS_TOKEN: token, MCP_CONFIG: '{}', LOG_LEVEL: 'error'},
      listenPort: 0,
      exitOnSignal: false,
      registerTools: (mcp) => mcp.registerTool('warm', {
        description: 'warm-up',
        inputSchema: z.object({text: z.string()}),
      }, async ({text}) => ({content: [{type: 'text', text}]})),
    });
    const headers = {
      'Authorization': `Bearer ${token}`,
      'Content-Type': 'application/json',
      'Accept': 'application/json, text/event-stream',
    };
    const rpc = (id, method, params) => JSON.stringify({jsonrpc: '2.0', ...(id === undefined ? {} : {id}), method, params});
    const init = await loopbackRequest(s.port, 'POST', headers, rpc(1, 'initialize', {
      protocolVersion: '2025-11-25', capabilities: {}, clientInfo: {name: 'warm-up', version: '0'}}));
    const sid = init.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const inSession = {...headers, 'Mcp-Session-Id': sid, 'Mcp-Protocol-Version': '2025-11-25'};
      await loopbackRequest(s.port, 'POST', inSession, rpc(undefined, 'notifications/initialized', {}));
      await loopbackRequest(s.port, 'POST', inSession, rpc(2, 'tools/list', {}));
      await loopbackRequest(s.port, 'POST', inSession, rpc(3, 'tools/call', {name: 'warm', arguments: {text: 'x'}}));
      await loopbackRequest(s.port, 'DELETE', inSession, undefined);
    }
  } catch {
    // Only the speed-up is lost.
  } finally {
    await s?.close().catch(() => {});
  }
}
