// A local stand-in for an upstream REST API in tests: records every request
// and answers from route handlers. Kept out of test/ so `node --test` does not
// run it as a test file.
//
//   const fake = await startFakeUpstream({
//     'GET /gmail/v1/users/me/messages/:id': (req) => ({json: {id: req.params.id}}),
//   });
//   fake.url, fake.requests, fake.setRoute(key, handler), fake.pause(), fake.resume(), fake.close()
//
// A route key is "METHOD /path" where a `:name` segment matches one path
// segment (req.params.name). `routes` may instead be one function(req) for all.
// A handler gets (req, body) with req = {method, path, query, headers, body,
// params} (body: parsed JSON when it parses, else the text, '' when empty) and
// returns (or resolves to) {status=200, headers, json} or {status, headers, text},
// or {delayMs, ...} to answer late, or {destroy: true} to drop the connection.
// Unmatched requests get 404 {error: {code: 404, message: "no fake route ..."}}.

import http from 'node:http';

function compile(key) {
  const m = /^([A-Z]+) (\/\S*)$/.exec(key);
  if (!m) throw new Error(`bad fake route key "${key}": want "METHOD /path"`);
  const names = [];
  const pattern = m[2].split('/').map((seg) => {
    if (seg.startsWith(':')) {
      names.push(seg.slice(1));
      return '([^/]+)';
    }
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('/');
  return {method: m[1], re: new RegExp(`^${pattern}$`), names};
}

function parseQuery(searchParams) {
  const query = {};
  for (const k of new Set(searchParams.keys())) {
    const all = searchParams.getAll(k);
    query[k] = all.length === 1 ? all[0] : all;
  }
  return query;
}

export async function startFakeUpstream(routes = {}) {
  const table = new Map(); // key -> {matcher, handler}
  let fallback = typeof routes === 'function' ? routes : undefined;
  const requests = [];
  const sockets = new Set();
  const timers = new Set();

  function setRoute(key, handler) {
    if (typeof key === 'function') {
      fallback = key;
      return;
    }
    if (handler === undefined) table.delete(key);
    else table.set(key, {matcher: compile(key), handler});
  }
  if (typeof routes === 'object') for (const [k, h] of Object.entries(routes)) setRoute(k, h);

  function match(method, path) {
    for (const {matcher, handler} of table.values()) {
      if (matcher.method !== method) continue;
      const m = matcher.re.exec(path);
      if (!m) continue;
      const params = {};
      matcher.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return {handler, params};
    }
    return fallback ? {handler: fallback, params: {}} : undefined;
  }

  async function handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    let body = text;
    try {
      if (text !== '') body = JSON.parse(text);
    } catch { /* keep the text */ }
    const u = new URL(req.url, 'http://fake');
    const record = {
      method: req.method,
      path: u.pathname,
      query: parseQuery(u.searchParams),
      headers: {...req.headers},
      body,
      params: {},
    };
    requests.push(record);

    const found = match(req.method, u.pathname);
    let answer = found ?
      (record.params = found.params, await found.handler(record, body)) :
      {status: 404, json: {error: {code: 404, message: `no fake route for ${req.method} ${u.pathname}`}}};
    answer ??= {};
    if (answer.delayMs > 0) {
      await new Promise((resolve) => {
        const t = setTimeout(() => { timers.delete(t); resolve(); }, answer.delayMs);
        timers.add(t);
        res.on('close', () => { clearTimeout(t); timers.delete(t); resolve(); });
      });
    }
    if (res.destroyed || res.writableEnded) return;
    if (answer.destroy) {
      req.socket.destroy();
      return;
    }
    const headers = {...answer.headers};
    let payload = '';
    if (answer.json !== undefined) {
      payload = JSON.stringify(answer.json);
      headers['Content-Type'] ??= 'application/json; charset=UTF-8';
    } else if (answer.text !== undefined) {
      payload = String(answer.text);
      headers['Content-Type'] ??= 'text/plain; charset=UTF-8';
    }
    headers['Content-Length'] = Buffer.byteLength(payload);
    res.writeHead(answer.status ?? 200, headers);
    res.end(payload);
  }

  function makeServer() {
    const srv = http.createServer((req, res) => {
      handle(req, res).catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, {'Content-Type': 'application/json'});
          res.end(JSON.stringify({error: {code: 500, message: `fake handler threw: ${err.message}`}}));
        } else {
          res.destroy();
        }
      });
    });
    srv.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return srv;
  }

  function listen(srv, port) {
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({host: '127.0.0.1', port}, () => {
        srv.off('error', reject);
        resolve(srv.address().port);
      });
    });
  }

  async function stopServer(srv) {
    const closed = new Promise((resolve) => srv.close(resolve));
    for (const s of sockets) s.destroy();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await closed;
  }

  let server = makeServer();
  const port = await listen(server, 0);
  let paused = false;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setRoute,
    clear() { requests.length = 0; },
    // Stop listening (connections refused) and listen again on the same port:
    // lets tests make the upstream unreachable and bring it back.
    async pause() {
      if (paused) return;
      paused = true;
      await stopServer(server);
    },
    async resume() {
      if (!paused) return;
      server = makeServer();
      await listen(server, port);
      paused = false;
    },
    async close() {
      if (!paused) await stopServer(server);
      paused = true;
    },
  };
}
