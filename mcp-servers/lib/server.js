// The HTTP shell every MiniMCP instance server shares (docs/architecture.md):
//   GET /health  -> 200 {"status":"healthy","mcpId","uptimeSeconds"}; no auth, nothing secret
//                   (200 {"status":"degraded",...,"reason"} while a type's upstream is unreachable)
//   /mcp         -> MCP Streamable HTTP (stateful sessions, Mcp-Session-Id; POST, GET SSE, DELETE);
//                   Origin checked (403), then `Authorization: Bearer $MCP_ACCESS_TOKEN` (401)
// Listens on 127.0.0.1 only. SIGTERM/SIGINT close every session's streams and the
// listener, destroy what is still open after a short deadline, and exit 0.
//
// Exit codes: 0 clean stop, 1 unexpected error, 2 bad launch environment,
// 3 cannot listen (port taken). mcpd can tell a launch problem from a crash.

import http from 'node:http';
import {randomUUID} from 'node:crypto';
import {McpServer} from '@modelcontextprotocol/sdk/server/mcp.js';
import {StreamableHTTPServerTransport} from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {isInitializeRequest} from '@modelcontextprotocol/sdk/types.js';
import {ConfigError, readEnv} from './env.js';
import {createLogger} from './log.js';
import {bearerMatches, originAllowed} from './security.js';

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

function rpcError(res, status, code, message, headers) {
  sendJson(res, status, {jsonrpc: '2.0', error: {code, message}, id: null}, headers);
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

// Options:
//   name, version       reported in the MCP initialize result
//   authEnv             the MCPType's spec.auth.env (undefined for auth type none)
//   registerTools(mcp, ctx)
//                       called once per session on a fresh McpServer; ctx is shared:
//                       {config, mcpId, apiKey, log, health: {setMode(mode, reason?), mode}, shutdown(code)}
//   env                 defaults to process.env
//   exitOnSignal        install SIGTERM/SIGINT handlers and exit (default true)
// Returns a promise of {port, close()} once listening (tests embed it with exitOnSignal false).
export async function startMcpServer(options) {
  const {name, version = '0.1.0', authEnv, registerTools, env = process.env, exitOnSignal = true} = options;

  let settings;
  try {
    settings = readEnv(env, {authEnv});
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${name}: refusing to start: ${e.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const {port, mcpId, accessToken, config, logLevel, apiKey} = settings;
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
  let shuttingDown = false;

  const ctx = {
    name,
    config,
    mcpId,
    apiKey,
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
    },
    shutdown: (code = EXIT_OK) => shutdown(code, 'requested'),
  };

  function answerHealth(res) {
    const uptimeSeconds = Number((process.hrtime.bigint() - startedAt) / 1000000n) / 1000;
    if (healthMode === 'ok' && !shuttingDown) {
      sendJson(res, 200, {status: 'healthy', mcpId, uptimeSeconds});
    } else if (healthMode === 'degraded' && !shuttingDown) {
      sendJson(res, 200, {status: 'degraded', mcpId, uptimeSeconds, ...(healthReason ? {reason: healthReason} : {})});
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
    const mcp = new McpServer({name, version}, {capabilities: {logging: {}, tools: {}}});
    registerTools(mcp, ctx);
    let inflight;
    const transport = new StreamableHTTPServerTransport({
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
    await mcp.connect(transport);
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

    const sid = req.headers['mcp-session-id'];
    const session = typeof sid === 'string' ? sessions.get(sid) : undefined;

    let parsedBody;
    if (req.method === 'POST') {
      const body = await readBody(req, limits.maxBodyBytes);
      if (body.tooLarge) {
        rpcError(res, 413, -32000, `Request body exceeds ${limits.maxBodyBytes} bytes`);
        return;
      }
      try {
        parsedBody = JSON.parse(body.text);
      } catch {
        rpcError(res, 400, -32700, 'Parse error: Invalid JSON');
        return;
      }
    }

    if (session) {
      track(session, res);
      await session.transport.handleRequest(req, res, parsedBody);
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
    await transport.handleRequest(req, res, parsedBody);
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
        await s.mcp.close();
      }));
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

  await new Promise((resolve) => {
    server.once('error', (err) => {
      log.error('cannot listen', {host: '127.0.0.1', port, error: err});
      process.stderr.write(`${name}: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
      process.exit(EXIT_LISTEN);
    });
    server.listen({host: '127.0.0.1', port}, resolve);
  });
  server.on('error', (err) => log.error('server error', {error: err}));
  log.info('listening', {host: '127.0.0.1', port, pid: process.pid});

  return {port, ctx, close};
}
