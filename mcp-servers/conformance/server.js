// The conformance MCPType: the conformance suite's fixture tools, resources and prompts
// (./fixtures.js) on the SDK v2, serving both protocol eras on one /mcp endpoint under
// mcpd's instance contract (PORT, MCP_ACCESS_TOKEN, MCP_CONFIG, LOG_LEVEL; GET /health;
// Origin then bearer checks from lib/security.js; 127.0.0.1 only; exit codes of lib/server.js):
//   2026-07-28  requests carrying the per-request _meta envelope (server/discover, no sessions)
//               go to the SDK's createMcpHandler: a fresh fixture server per request.
//   2025-11-25  everything else: stateful sessions (initialize, Mcp-Session-Id, GET SSE with
//               resumability, DELETE) on the SDK's web-standard Streamable HTTP transport.
// The SDK speaks web Request/Response; toWebRequest/sendWebResponse bridge node:http.

import http from 'node:http';
import {randomUUID} from 'node:crypto';
import {
  classifyInboundRequest,
  createMcpHandler,
  isInitializeRequest,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import {
  bearerMatches,
  ConfigError,
  createLogger,
  EXIT_CONFIG,
  EXIT_ERROR,
  EXIT_LISTEN,
  EXIT_OK,
  originAllowed,
  readEnv,
} from '../lib/index.js';
import {createFixtureServer} from './fixtures.js';

const NAME = 'conformance';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const SHUTDOWN_DEADLINE_MS = 1000;

let settings;
try {
  settings = readEnv(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`${NAME}: refusing to start: ${e.message}\n`);
  process.exit(EXIT_CONFIG);
}
const {port, mcpId, accessToken, config, logLevel} = settings;
// The lib's MCP_CONFIG session limits, with its defaults.
const positive = (v, fallback) => (Number.isFinite(v) && v > 0 ? v : fallback);
const maxSessions = positive(config.maxSessions, 64);
const sessionIdleTimeoutMs = positive(config.sessionIdleTimeoutMs, 30 * 60 * 1000);
delete process.env.MCP_ACCESS_TOKEN;
const log = createLogger({level: logLevel, base: {server: NAME, mcpId}});
log.addSecret(accessToken);
const startedAt = process.hrtime.bigint();
let shuttingDown = false;

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

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? {tooLarge: true} : {text: Buffer.concat(chunks).toString('utf8')}));
    req.on('error', reject);
  });
}

// Hop-by-hop headers and the framing of the original body: the Request gets its own.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

// A web Request with the node request's method, headers and (already read) body. The
// transports look at Host, Origin, Accept, Content-Type and the MCP headers.
function toWebRequest(req, res, bodyText) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!NOT_FORWARDED.has(req.rawHeaders[i].toLowerCase())) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const url = `http://${req.headers.host || `127.0.0.1:${port}`}${req.url}`;
  const hasBody = bodyText !== undefined && req.method !== 'GET' && req.method !== 'HEAD';
  const controller = new AbortController();
  // An SSE stream ends when its client goes away: the transport sees the abort.
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return new Request(url, {method: req.method, headers, body: hasBody ? bodyText : undefined, signal: controller.signal});
}

// Streams a web Response into the node response; cancels the body when the client leaves.
async function sendWebResponse(response, res) {
  const headers = {};
  response.headers.forEach((v, k) => { headers[k] = v; });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on('close', () => { reader.cancel().catch(() => {}); });
  try {
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
    }
  } catch {
    // The client went away mid-stream: nothing left to answer.
  }
  res.end();
}

// 2026-07-28: per request, no sessions.
const modern = createMcpHandler(() => createFixtureServer(hooks), {
  legacy: 'reject',
  onerror: (err) => log.debug('modern-era request rejected', {error: err.message}),
});

// 2025-11-25: sessionId -> {transport, server, lastActive, open (responses in flight)}.
const sessions = new Map();
const hooks = {
  notify: () => modern.notify,
  closeSSEStream(sessionId, requestId) {
    sessions.get(sessionId)?.transport.closeSSEStream(requestId);
  },
};

// Resumability for 2025 sessions: every event of a stream kept for replay after Last-Event-ID.
function createEventStore() {
  const events = new Map(); // eventId -> {streamId, message}
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}::${String(Date.now()).padStart(15, '0')}_${randomUUID()}`;
      events.set(eventId, {streamId, message});
      return eventId;
    },
    async replayEventsAfter(lastEventId, {send}) {
      const streamId = lastEventId.split('::')[0] || lastEventId;
      const later = [...events.entries()]
          .filter(([id, e]) => e.streamId === streamId && id > lastEventId)
          .sort(([a], [b]) => a.localeCompare(b));
      for (const [id, {message}] of later) await send(id, message);
      return streamId;
    },
  };
}

async function newSession() {
  const server = createFixtureServer(hooks);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: createEventStore(),
    retryInterval: 5000,
    maxRequestBodySize: MAX_BODY_BYTES,
    onsessioninitialized: (sid) => {
      sessions.set(sid, {transport, server, lastActive: Date.now(), open: 0});
      log.info('session opened', {sessions: sessions.size});
    },
  });
  transport.onclose = () => {
    const sid = transport.sessionId;
    if (sid && sessions.delete(sid)) {
      server.close().catch(() => {});
      log.info('session closed', {sessions: sessions.size});
    }
  };
  await server.connect(transport);
  return transport;
}

const header = (req, name) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

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

  let bodyText;
  let parsedBody;
  if (req.method === 'POST') {
    const body = await readBody(req);
    if (body.tooLarge) {
      rpcError(res, 413, -32000, `Request body exceeds ${MAX_BODY_BYTES} bytes`);
      return;
    }
    bodyText = body.text;
    try {
      parsedBody = JSON.parse(bodyText);
    } catch {
      parsedBody = undefined; // the transports answer the parse error in their era's shape
    }
  }
  const request = toWebRequest(req, res, bodyText);
  const options = parsedBody === undefined ? {} : {parsedBody};

  const inbound = classifyInboundRequest({
    httpMethod: req.method,
    protocolVersionHeader: header(req, 'mcp-protocol-version'),
    mcpMethodHeader: header(req, 'mcp-method'),
    body: parsedBody,
  });
  if (inbound.kind !== 'legacy') {
    await sendWebResponse(await modern.fetch(request, options), res);
    return;
  }

  const sid = header(req, 'mcp-session-id');
  const session = sid === undefined ? undefined : sessions.get(sid);
  if (session) {
    session.lastActive = Date.now();
    session.open++;
    res.on('close', () => {
      session.open--;
      session.lastActive = Date.now();
    });
    await sendWebResponse(await session.transport.handleRequest(request, options), res);
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
  if (sessions.size >= maxSessions) {
    rpcError(res, 503, -32000, 'Too many open sessions');
    return;
  }
  const transport = await newSession();
  await sendWebResponse(await transport.handleRequest(request, options), res);
}

function handleHealth(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, {error: 'method not allowed'}, {Allow: 'GET, HEAD'});
    return;
  }
  const uptimeSeconds = Number((process.hrtime.bigint() - startedAt) / 1000000n) / 1000;
  if (shuttingDown) sendJson(res, 503, {status: 'terminating', mcpId, uptimeSeconds});
  else sendJson(res, 200, {status: 'healthy', mcpId, uptimeSeconds});
}

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/health') {
    handleHealth(req, res);
  } else if (path === '/mcp' || path === '/mcp/') {
    handleMcp(req, res).catch((err) => {
      log.error('request failed', {error: err});
      rpcError(res, 500, -32603, 'Internal server error');
    });
  } else {
    sendJson(res, 404, {error: 'not found'});
  }
});
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

// A session nobody speaks to (no request, no open stream) for sessionIdleTimeoutMs is closed.
const idleReaper = setInterval(() => {
  const now = Date.now();
  for (const s of sessions.values()) {
    if (s.open === 0 && now - s.lastActive > sessionIdleTimeoutMs) {
      log.info('closing idle session');
      s.transport.close().catch(() => {});
    }
  }
}, Math.min(60000, sessionIdleTimeoutMs)).unref();

async function shutdown(code, reason) {
  if (shuttingDown) process.exit(EXIT_OK); // a second signal: stop waiting
  shuttingDown = true;
  clearInterval(idleReaper);
  log.info('shutting down', {reason, sessions: sessions.size});
  setTimeout(() => process.exit(code), SHUTDOWN_DEADLINE_MS + 500).unref();
  const closed = new Promise((resolve) => server.close(resolve));
  await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
  await modern.close?.();
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), SHUTDOWN_DEADLINE_MS).unref();
  await closed;
  log.info('stopped');
  process.exit(code);
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => shutdown(EXIT_OK, sig));
process.on('uncaughtException', (err) => {
  log.error('uncaught exception', {error: err, stack: err?.stack});
  process.exit(EXIT_ERROR);
});
process.on('unhandledRejection', (err) => {
  log.error('unhandled rejection', {error: err, stack: err?.stack});
  process.exit(EXIT_ERROR);
});

server.once('error', (err) => {
  log.error('cannot listen', {host: '127.0.0.1', port, error: err});
  process.stderr.write(`${NAME}: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(EXIT_LISTEN);
});
server.listen({host: '127.0.0.1', port}, () => {
  server.on('error', (err) => log.error('server error', {error: err}));
  log.info('listening', {host: '127.0.0.1', port, pid: process.pid});
});
