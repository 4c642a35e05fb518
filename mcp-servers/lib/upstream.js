// One place for the policy every type applies to its upstream API (issue 5):
//  - each attempt is bounded by timeout_ms;
//  - 429 and 5xx are retried retry_attempts times with exponential backoff from
//    retry_base_ms, honouring Retry-After (seconds or HTTP date) up to a cap;
//  - a bad key (401/403) is reported once as an auth error and never retried;
//  - network errors and timeouts are retried, then reported as status 0;
//  - while the upstream is unreachable the server's /health says "degraded"
//    (HTTP 200, so the reconciler does not restart a healthy process), and a
//    light probe flips it back once the upstream answers again.
// Non-idempotent requests (POST, PATCH) are retried only when the upstream
// cannot have acted on them (429, 503, connection refused): resending an email
// because a reply was slow would send it twice.

const DEFAULTS = {
  retry_attempts: 3,
  timeout_ms: 30000,
  retry_base_ms: 250,
  retry_max_ms: 10000, // cap of one computed backoff step
  retry_after_max_ms: 30000, // a longer Retry-After fails at once instead of waiting
  health_probe_ms: 10000, // probe interval while degraded
};

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
// Error codes meaning the request never reached the upstream.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT']);
const MAX_MESSAGE = 500;

export class UpstreamError extends Error {
  constructor(service, status, message, {auth = false, retryable = false, body} = {}) {
    super(message);
    this.name = 'UpstreamError';
    this.service = service;
    this.status = status;
    this.auth = auth;
    this.retryable = retryable;
    this.body = body;
  }
}

function numberSetting(config, key) {
  const v = config?.[key];
  // A zero timeout would abort every attempt at once.
  const min = key === 'timeout_ms' ? 1 : 0;
  return Number.isFinite(v) && v >= min ? v : DEFAULTS[key];
}

// Retry-After is either delta-seconds or an HTTP date; undefined when absent or unparsable.
export function parseRetryAfter(value, now = Date.now()) {
  if (value === null || value === undefined) return undefined;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

// The human part of an upstream error body across the APIs we talk to:
// Google {error:{message}}, GitHub {message}, Figma {err} / {message}, Slack {error:"code"}.
export function upstreamMessage(body, fallback) {
  let msg;
  if (body && typeof body === 'object') {
    if (body.error && typeof body.error === 'object') msg = body.error.message ?? body.error.status;
    msg ??= body.message ?? body.err ?? (typeof body.error === 'string' ? body.error : undefined);
  } else if (typeof body === 'string' && body.trim() !== '') {
    msg = body.trim();
  }
  msg = typeof msg === 'string' && msg !== '' ? msg : fallback;
  return String(msg).replace(/\s+/g, ' ').slice(0, MAX_MESSAGE);
}

function buildQuery(query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) params.append(k, String(item));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, {once: true});
  });
}

function errorCode(err) {
  for (let e = err; e; e = e.cause) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

// A 403 from a rate limiter (GitHub's secondary limits) is not a bad key.
function isRateLimit403(res) {
  return res.status === 403 &&
    (res.headers.has('retry-after') || res.headers.get('x-ratelimit-remaining') === '0');
}

async function readBody(res) {
  const text = await res.text();
  if (text === '') return null;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch { /* fall through to text */ }
  }
  return text;
}

// service      name used in messages and logs ("gmail")
// baseUrl      the upstream root from the type's env, e.g. GMAIL_API_ENDPOINT
// authHeaders  () => headers carrying the key (or a promise of them); applied by request(),
//              not by fetch()
// onUnauthorized (sentHeaders) => promise of true to resend once after a 401 with fresh
//              authHeaders() (an OAuth 2.0 access token that was refreshed meanwhile)
// config       ctx.config: retry_attempts, timeout_ms, retry_base_ms, retry_max_ms,
//              retry_after_max_ms, health_probe_ms
// health       ctx.health (optional): degraded while unreachable
// probePath    path GET-ed (without auth) while degraded; any HTTP answer means reachable
export function createUpstream({service, baseUrl, authHeaders = () => ({}), onUnauthorized, config = {}, log, health,
  probePath = '/'}) {
  if (!baseUrl) throw new Error(`${service}: no upstream base URL`);
  const base = String(baseUrl).replace(/\/+$/, '');
  const policy = Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k, numberSetting(config, k)]));
  let probeTimer;

  function markReachable() {
    if (probeTimer) {
      clearInterval(probeTimer);
      probeTimer = undefined;
    }
    // Only undo our own mode: a test hook or another part may have set another.
    if (health?.mode === 'degraded') health.setMode('ok');
  }

  function markUnreachable(reason) {
    if (!health || (health.mode !== 'ok' && health.mode !== 'degraded')) return;
    health.setMode('degraded', `${service} API unreachable: ${reason}`);
    if (probeTimer || policy.health_probe_ms <= 0) return;
    probeTimer = setInterval(async () => {
      try {
        const res = await globalThis.fetch(`${base}${probePath}`, {
          method: 'GET', signal: AbortSignal.timeout(Math.min(policy.timeout_ms, 5000)),
        });
        await res.body?.cancel();
        markReachable();
      } catch { /* still unreachable */ }
    }, policy.health_probe_ms);
    probeTimer.unref();
  }

  function backoff(attempt, res) {
    const computed = Math.min(policy.retry_max_ms, policy.retry_base_ms * 2 ** attempt);
    const after = res ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
    return after === undefined ? computed : after;
  }

  // The retry loop shared by request() and fetch(): returns the final Response
  // (any status) or throws UpstreamError status 0 when nothing answered.
  async function send(url, init, {idempotent, signal} = {}) {
    const method = (init.method ?? 'GET').toUpperCase();
    const safe = idempotent ?? IDEMPOTENT.has(method);
    const path = url.startsWith(base) ? url.slice(base.length).split('?')[0] : new URL(url).pathname;
    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(policy.timeout_ms);
      const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let res;
      let failure;
      try {
        res = await globalThis.fetch(url, {...init, method, signal: attemptSignal});
      } catch (err) {
        if (signal?.aborted) throw err; // the caller gave up; not the upstream's fault
        const code = errorCode(err);
        failure = timeout.aborted ?
          {message: `timeout after ${policy.timeout_ms} ms`, resend: safe} :
          {message: `unreachable (${code ?? err.message})`, resend: safe || NOT_SENT_CODES.has(code)};
      }
      const left = attempt < policy.retry_attempts;
      if (failure) {
        if (!left || !failure.resend) {
          markUnreachable(failure.message);
          log?.warn('upstream request failed', {service, method, path, error: failure.message, attempts: attempt + 1});
          throw new UpstreamError(service, 0, failure.message, {retryable: true});
        }
        const delay = backoff(attempt);
        log?.info('retrying upstream request', {service, method, path, error: failure.message, attempt: attempt + 1, delayMs: delay});
        await sleep(delay, signal);
        continue;
      }
      if (res.status < 500) markReachable();
      const retryable = res.status === 429 || (res.status >= 500 && (safe || res.status === 503)) || isRateLimit403(res);
      if (!retryable || !left) return res;
      const delay = backoff(attempt, res);
      if (delay > policy.retry_after_max_ms) return res;
      log?.info('retrying upstream request', {service, method, path, status: res.status, attempt: attempt + 1, delayMs: delay});
      await res.body?.cancel().catch(() => {});
      await sleep(delay, signal);
    }
  }

  async function toError(res, method, path) {
    let body;
    try {
      body = await readBody(res);
    } catch { /* body lost: the status still says enough */ }
    const auth = (res.status === 401 || res.status === 403) && !isRateLimit403(res);
    let message = upstreamMessage(body, res.statusText || `HTTP ${res.status}`);
    const after = parseRetryAfter(res.headers.get('retry-after'));
    if (res.status === 429 && after !== undefined) message += ` (retry after ${Math.ceil(after / 1000)} s)`;
    log?.warn('upstream error', {service, method, path, status: res.status, auth});
    return new UpstreamError(service, res.status, message, {
      auth, retryable: res.status === 429 || res.status >= 500, body,
    });
  }

  return {
    service,
    baseUrl: base,
    // path is appended to baseUrl; query values may be arrays (repeated keys);
    // a non-string body is sent as JSON. Resolves to the parsed body (null when
    // empty) or, with raw, the Response; non-2xx rejects with UpstreamError.
    async request(method, path, {query, body, headers, raw = false, idempotent, signal} = {}) {
      const m = method.toUpperCase();
      let payload = body;
      const json = body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
      if (json) payload = JSON.stringify(body);
      const url = `${base}${path}${buildQuery(query)}`;
      const attempt = async () => {
        const h = {Accept: 'application/json', ...await authHeaders(), ...headers};
        if (json) h['Content-Type'] ??= 'application/json';
        return {h, res: await send(url, {method: m, headers: h, body: payload}, {idempotent, signal})};
      };
      let {h, res} = await attempt();
      // A 401 was not acted on, so resending is safe even for a POST; once only.
      if (res.status === 401 && onUnauthorized && await onUnauthorized(h)) {
        await res.body?.cancel().catch(() => {});
        log?.info('resending after 401 with a new access token', {service, method: m, path});
        ({res} = await attempt());
      }
      if (!res.ok) throw await toError(res, m, path);
      if (raw) return res;
      try {
        return await readBody(res);
      } catch (err) {
        if (signal?.aborted) throw err;
        // The attempt's timeout also bounds reading the body.
        const message = err?.name === 'TimeoutError' ? `timeout after ${policy.timeout_ms} ms` :
          `response body lost (${err?.message})`;
        throw new UpstreamError(service, 0, message, {retryable: true});
      }
    },
    // fetch-compatible, for npm clients (octokit's request.fetch, @slack/web-api):
    // same timeout/retry/health policy; returns the final Response whatever its
    // status so the client maps it; throws UpstreamError status 0 when nothing
    // answered. Adds no auth headers: the client sets its own.
    fetch(input, init = {}) {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const merged = typeof input === 'object' && !(input instanceof URL) ?
        {method: input.method, headers: input.headers, body: input.body, ...init} : init;
      const {signal, ...rest} = merged;
      return send(url, rest, {signal: signal ?? undefined});
    },
    // Stops the recovery probe (tests, shutdown).
    close() {
      if (probeTimer) clearInterval(probeTimer);
      probeTimer = undefined;
    },
  };
}

// An MCP tool result for a failed call; the upstream's status and message, never the key.
export function toolError(err, service) {
  const up = findUpstreamError(err, service);
  let text;
  if (!up) {
    text = `${service ?? 'upstream'} error: ${String(err?.message ?? err).slice(0, MAX_MESSAGE)}`;
  } else if (up.auth) {
    text = `${up.service} authentication failed (${up.status}): check the API key`;
    if (up.message) text += ` (${up.message})`;
  } else {
    text = `${up.service} API error ${up.status}: ${up.message}`;
  }
  return {isError: true, content: [{type: 'text', text}]};
}

// Our UpstreamError anywhere in the cause chain, or an npm client's error that
// carries an HTTP status (octokit's RequestError) seen as one.
function findUpstreamError(err, service) {
  for (let e = err; e; e = e.cause) {
    if (e instanceof UpstreamError) return e;
  }
  if (err && Number.isInteger(err.status) && err.status >= 400) {
    const body = err.response?.data;
    return new UpstreamError(service ?? 'upstream', err.status, upstreamMessage(body, err.message), {
      auth: err.status === 401 || (err.status === 403 && !/rate limit/i.test(err.message ?? '')),
      body,
    });
  }
  return undefined;
}

// Wraps a tool handler so upstream failures become isError results instead of
// JSON-RPC errors: the model sees what went wrong and can react. Input
// validation errors are left to the SDK.
export function withToolErrors(handler, {service} = {}) {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (err) {
      if (err?.name === 'AbortError' && args[1]?.signal?.aborted) throw err;
      return toolError(err, service);
    }
  };
}

// A tool result carrying data both as compact JSON text (for any client) and as
// structuredContent (for clients that read it). `summary` replaces the text when given.
export function jsonResult(data, summary) {
  const result = {content: [{type: 'text', text: summary ?? JSON.stringify(data)}]};
  if (data && typeof data === 'object' && !Array.isArray(data)) result.structuredContent = data;
  return result;
}
