// OAuth 2.0 access tokens for an instance whose APIKey holds client credentials and a refresh
// token instead of a static key. mcpd delivers the sealed credentials in the type's auth
// variable as the JSON {"oauth2": {tokenURL, clientID, clientSecret?, refreshToken, scopes?,
// clientAuth?: 'basic' | 'post'}};
// this process, under the instance's own uid, is the only one that ever calls the token
// endpoint (mcpd never fetches a tenant-given URL).
//
//  - Access tokens come from the refresh_token grant (RFC 6749 §6), are kept in memory only,
//    refreshed ahead of their expiry (a third of their lifetime, at most a minute, before it) and
//    once more when the upstream answers 401 to one of them.
//  - A refresh the provider refuses for good (invalid_grant, invalid_client, ...) stops the
//    refreshing and is reported through onState as {available: false, reason}, which /health
//    carries to mcpd (KeyAvailable=False there); the process stays up, a new key replaces it.
//  - Network errors and 5xx/429 are retried with backoff, and reported as nothing but a log line.
//  - The token URL must be https to a public host; a loopback, private or link-local one (and
//    plain http to loopback) only when the admin allows it in the type's env
//    (OAUTH2_ALLOW_HTTP_LOOPBACK=true, for tests). The URL is checked as written, and every
//    address its host resolves to is checked again as the connection is made
//    (addresses.js checkedLookup): a name that resolves to the host or its networks, at first or
//    only by the time of the connection, is refused for good (KeyAvailable=False,
//    TokenURLAddressRefused) and nothing is sent. Redirects are not followed, so an https
//    endpoint cannot bounce the request elsewhere.
//  - No token or secret is ever logged: each is registered with the logger's mask as well.
//  - A provider that rotates refresh tokens (a new refresh_token with each refresh, the old one
//    invalid from then on) would leave the stored one useless for the instance's next process:
//    each new one is reported to mcpd (refreshTokenReporter: POST
//    .../mcpinstances/{name}/oauth2token with the instance's access token), which seals it into
//    the APIKey without restarting this process. Retried with backoff until mcpd takes it.

import {createHash} from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import {ADDRESS_REFUSED, checkedLookup, hostReason} from './addresses.js';

const REFRESH_MARGIN_MAX_MS = 60000;
const DEFAULT_LIFETIME_S = 3600; // when the provider sends no expires_in
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 60000;
const MAX_RESPONSE_BYTES = 64 * 1024;

// The reasons a token request is refused for good, as the KeyAvailable condition shows them.
export const REJECTION_REASONS = {
  invalid_grant: 'RefreshTokenRejected',
  invalid_client: 'ClientRejected',
  unauthorized_client: 'ClientRejected',
  invalid_scope: 'ScopeRejected',
};
export const TOKEN_URL_REFUSED = 'TokenURLRefused';
export const TOKEN_URL_ADDRESS_REFUSED = 'TokenURLAddressRefused';
export const TOKEN_REQUEST_REJECTED = 'TokenRequestRejected';

export class OAuth2Error extends Error {
  // reason: a KeyAvailable reason when the credentials are unusable for good, else undefined.
  constructor(message, {reason, status} = {}) {
    super(message);
    this.name = 'OAuth2Error';
    this.reason = reason;
    this.status = status;
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

// '' when the instance may POST its credentials to `url`, else why not. Without the admin's
// OAUTH2_ALLOW_HTTP_LOOPBACK, the host must be a public one (mcpd refuses the others already,
// unless its admin allowed them: this is the instance's own check).
export function tokenUrlProblem(url, {allowHttpLoopback = false} = {}) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.username || u.password) return 'must not carry user info';
  if (u.hash) return 'must not have a fragment';
  if (!allowHttpLoopback && (u.protocol === 'https:' || u.protocol === 'http:')) {
    const why = hostReason(u.hostname);
    if (why) return `must not name ${why} unless the type sets OAUTH2_ALLOW_HTTP_LOOPBACK=true`;
  }
  if (u.protocol === 'https:') return '';
  if (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname)) {
    return allowHttpLoopback ? '' :
      'is plain http: allowed only to a loopback host when the type sets OAUTH2_ALLOW_HTTP_LOOPBACK=true';
  }
  return 'must be an https:// URL';
}

// The credentials in an APIKey value, or undefined for a static key.
export function parseOAuth2Key(apiKey) {
  if (typeof apiKey !== 'string' || !apiKey.startsWith('{')) return undefined;
  let doc;
  try {
    doc = JSON.parse(apiKey);
  } catch {
    return undefined;
  }
  const o = doc?.oauth2;
  if (!o || typeof o !== 'object') return undefined;
  const str = (v) => typeof v === 'string' && v !== '';
  if (!str(o.tokenURL) || !str(o.clientID) || !str(o.refreshToken) ||
      (o.clientSecret !== undefined && !str(o.clientSecret)) ||
      (o.scopes !== undefined && !(Array.isArray(o.scopes) && o.scopes.every(str))) ||
      (o.clientAuth !== undefined && !['basic', 'post'].includes(o.clientAuth)) ||
      (o.clientAuth === 'basic' && !str(o.clientSecret))) {
    throw new OAuth2Error('the OAuth 2.0 credentials are incomplete', {reason: TOKEN_REQUEST_REJECTED});
  }
  return {tokenURL: o.tokenURL, clientID: o.clientID, clientSecret: o.clientSecret,
    refreshToken: o.refreshToken, scopes: o.scopes, clientAuth: o.clientAuth ?? 'post'};
}

// When to refresh a token that lives `lifetimeMs`: a third of its life, at most a minute, early.
export function refreshDelayMs(lifetimeMs) {
  return Math.max(0, lifetimeMs - Math.min(REFRESH_MARGIN_MAX_MS, lifetimeMs / 3));
}

// An OAuth error code as it may appear in a log line: RFC 6749's charset, bounded.
function safeCode(code) {
  return typeof code === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(code) ? code : undefined;
}

// A fetch for the token endpoint, as much of one as requestToken uses (POST, a string body,
// redirect: 'error', a signal), over node:http(s) so that every connection goes through
// checkedLookup: the addresses the host resolves to must be public unless `allowPrivate`.
// `resolve` is dns.lookup's signature (tests give a fake one). A body beyond
// MAX_RESPONSE_BYTES is cut off (read as empty).
export function tokenEndpointFetch({resolve = dns.lookup, allowPrivate = false} = {}) {
  const lookup = checkedLookup({resolve, allowPrivate});
  return (url, init = {}) => new Promise((resolveFetch, reject) => {
    const u = new URL(url);
    const transport = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!transport) {
      reject(new TypeError(`unsupported scheme ${u.protocol}`));
      return;
    }
    const body = init.body === undefined ? undefined : Buffer.from(String(init.body));
    const headers = {...(init.headers ?? {})};
    if (body) headers['Content-Length'] = String(body.length);
    const fail = (err) => reject(init.signal?.aborted ? init.signal.reason : err);
    const req = transport.request(u, {method: init.method ?? 'GET', headers, lookup, agent: false,
      signal: init.signal}, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && init.redirect === 'error') {
        res.destroy();
        fail(new TypeError(`redirect refused (${status})`));
        return;
      }
      const chunks = [];
      let size = 0;
      let cut = false;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          cut = true;
          res.destroy();
        } else {
          chunks.push(chunk);
        }
      });
      const answer = () => {
        const empty = cut || [204, 205, 304].includes(status);
        try {
          resolveFetch(new Response(empty ? null : Buffer.concat(chunks), {status,
            headers: {'Content-Type': String(res.headers['content-type'] ?? '')}}));
        } catch (err) {
          fail(err);
        }
      };
      res.on('end', answer);
      res.on('close', () => { if (cut) answer(); });
      res.on('error', (err) => { if (!cut) fail(err); });
    });
    req.on('error', fail);
    req.end(body);
  });
}

async function readLimited(res) {
  const text = await res.text();
  return text.length > MAX_RESPONSE_BYTES ? '' : text;
}

// The body of a refresh_token grant. With clientAuth 'post' (the default: client_secret_post, as
// Google documents it) the client authenticates in the body; with 'basic' (client_secret_basic)
// it does in the Authorization header (clientAuthHeaders) and the body carries no client
// credentials (RFC 6749 §2.3.1: one method per request).
export function refreshRequestBody({clientID, clientSecret, refreshToken, scopes, clientAuth = 'post'}) {
  const p = new URLSearchParams({grant_type: 'refresh_token', refresh_token: refreshToken});
  if (clientAuth !== 'basic') {
    p.set('client_id', clientID);
    if (clientSecret) p.set('client_secret', clientSecret);
  }
  if (scopes?.length) p.set('scope', scopes.join(' '));
  return p.toString();
}

// application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B).
const formEncode = (value) => new URLSearchParams({v: value}).toString().slice(2);

// The headers that authenticate the client: HTTP Basic for clientAuth 'basic' (RFC 6749 §2.3.1:
// the client id and secret each form-urlencoded, joined by ':', then base64), none for 'post'.
export function clientAuthHeaders({clientID, clientSecret, clientAuth = 'post'}) {
  if (clientAuth !== 'basic') return {};
  const pair = `${formEncode(clientID)}:${formEncode(clientSecret ?? '')}`;
  return {Authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`};
}

// One token request: resolves to {accessToken, lifetimeMs, refreshToken?} or throws OAuth2Error
// (with .reason when the provider refused the credentials for good).
// The default fetch connects to public addresses only (tokenEndpointFetch); a refused address
// throws with reason TokenURLAddressRefused.
export async function requestToken(credentials, {fetch = tokenEndpointFetch(), timeoutMs = 10000} = {}) {
  let res;
  try {
    res = await fetch(credentials.tokenURL, {
      method: 'POST',
      redirect: 'error',
      headers: {'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json',
        ...clientAuthHeaders(credentials)},
      body: refreshRequestBody(credentials),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const refusal = [err, err?.cause].find((e) => e?.code === ADDRESS_REFUSED);
    if (refusal) {
      throw new OAuth2Error(`the token URL's host ${String(refusal.message).slice(0, 200)}`,
          {reason: TOKEN_URL_ADDRESS_REFUSED});
    }
    const why = err?.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : (err?.cause?.code ?? err?.message ?? 'error');
    throw new OAuth2Error(`token endpoint unreachable (${String(why).slice(0, 100)})`);
  }
  let body;
  try {
    body = JSON.parse(await readLimited(res));
  } catch {
    body = undefined;
  }
  if (res.ok) {
    const accessToken = body?.access_token;
    const type = body?.token_type;
    if (typeof accessToken !== 'string' || accessToken === '' ||
        (type !== undefined && String(type).toLowerCase() !== 'bearer')) {
      throw new OAuth2Error(`token endpoint answered ${res.status} without a bearer access token`);
    }
    const seconds = Number(body.expires_in);
    const lifetimeMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_LIFETIME_S) * 1000;
    const out = {accessToken, lifetimeMs};
    if (typeof body.refresh_token === 'string' && body.refresh_token !== '') out.refreshToken = body.refresh_token;
    return out;
  }
  const code = safeCode(body?.error);
  // RFC 6749 §5.2: 400 (or 401 for client authentication) with an error code.
  if ((res.status === 400 || res.status === 401) && code) {
    throw new OAuth2Error(`token endpoint refused the request (${res.status} ${code})`, {
      status: res.status, reason: REJECTION_REASONS[code] ?? TOKEN_REQUEST_REJECTED,
    });
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw new OAuth2Error(`token endpoint refused the request (${res.status})`, {
      status: res.status, reason: TOKEN_REQUEST_REJECTED,
    });
  }
  throw new OAuth2Error(`token endpoint answered ${res.status}`, {status: res.status});
}

// credentials   parseOAuth2Key's result
// onState       ({available, reason?}) => void, on every change
// onRotated     (refreshToken) => void: the provider returned a new refresh token (rotation)
// log           the instance logger (its mask learns every token)
// allowHttpLoopback  the admin's switch: also lets the token URL's host resolve to a private
//                    address (otherwise every address it resolves to must be public)
// resolve, fetch, timeoutMs, now, setTimer/clearTimer: for tests (resolve: dns.lookup's
// signature, used by the default fetch, tokenEndpointFetch)
export function createTokenSource({credentials, onState = () => {}, onRotated = () => {}, log,
  allowHttpLoopback = false,
  resolve = dns.lookup, fetch = tokenEndpointFetch({resolve, allowPrivate: allowHttpLoopback}),
  timeoutMs = 10000, now = Date.now, setTimer = setTimeout, clearTimer = clearTimeout}) {
  const creds = {...credentials};
  log?.addSecret(creds.refreshToken);
  log?.addSecret(creds.clientSecret);
  let current; // {accessToken, expiresAt}
  let inflight; // Promise of the refresh in progress
  let failure; // OAuth2Error that ends refreshing
  let timer;
  let retries = 0;
  let closed = false;
  let refreshes = 0;
  let state = {available: true};

  function setState(next) {
    if (next.available === state.available && next.reason === state.reason) return;
    state = next;
    onState(state);
  }

  function schedule(delayMs) {
    if (closed) return;
    if (timer) clearTimer(timer);
    timer = setTimer(() => {
      timer = undefined;
      refresh().catch(() => {}); // logged and scheduled inside
    }, delayMs);
    timer?.unref?.();
  }

  const urlProblem = tokenUrlProblem(creds.tokenURL, {allowHttpLoopback});
  if (urlProblem) {
    failure = new OAuth2Error(`the token URL ${urlProblem}`, {reason: TOKEN_URL_REFUSED});
    log?.warn('oauth2 token URL refused', {problem: urlProblem});
    setState({available: false, reason: TOKEN_URL_REFUSED});
  }

  async function doRefresh() {
    const startedAt = now();
    try {
      const t = await requestToken(creds, {fetch, timeoutMs});
      log?.addSecret(t.accessToken);
      if (t.refreshToken && t.refreshToken !== creds.refreshToken) {
        // The provider rotates refresh tokens: the new one is good from now on, and mcpd keeps
        // it for the next process (onRotated).
        log?.addSecret(t.refreshToken);
        creds.refreshToken = t.refreshToken;
        onRotated(t.refreshToken);
      }
      current = {accessToken: t.accessToken, expiresAt: startedAt + t.lifetimeMs,
        refreshAt: startedAt + refreshDelayMs(t.lifetimeMs)};
      retries = 0;
      refreshes++;
      log?.info('oauth2 access token refreshed', {expiresInSeconds: Math.round(t.lifetimeMs / 1000)});
      setState({available: true});
      schedule(refreshDelayMs(t.lifetimeMs));
      return current.accessToken;
    } catch (err) {
      if (err.reason) {
        failure = err;
        current = undefined;
        log?.warn('oauth2 credentials rejected', {reason: err.reason, error: err.message});
        setState({available: false, reason: err.reason});
        if (timer) clearTimer(timer);
        timer = undefined;
        throw err;
      }
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** retries++);
      log?.warn('oauth2 token refresh failed', {error: err.message, retryInMs: delay});
      schedule(delay);
      throw err;
    }
  }

  function refresh() {
    if (failure) return Promise.reject(failure);
    inflight ??= doRefresh().finally(() => { inflight = undefined; });
    return inflight;
  }


  return {
    // Fetches the first token (resolves either way; the outcome is in state) and keeps refreshing.
    async start() {
      if (failure) return;
      await refresh().catch(() => {});
    },
    // A valid access token: the current one, or a new one when it is about to expire.
    async accessToken() {
      if (failure) throw failure;
      if (current && now() < current.refreshAt) return current.accessToken;
      try {
        return await refresh();
      } catch (err) {
        // The endpoint is down for now: the current token is still good until it expires.
        if (!err.reason && current && now() < current.expiresAt) return current.accessToken;
        throw err;
      }
    },
    // The upstream answered 401 to `rejected`: a new token unless another request already got
    // one. Returns the token to retry with, or undefined when there is none.
    async afterUnauthorized(rejected) {
      if (failure) return undefined;
      if (inflight) return inflight.catch(() => undefined);
      if (current && current.accessToken !== rejected) return current.accessToken;
      return refresh().catch(() => undefined);
    },
    get state() { return state; },
    get refreshes() { return refreshes; },
    close() {
      closed = true;
      if (timer) clearTimer(timer);
      timer = undefined;
    },
  };
}

const REPORT_TIMEOUT_MS = 10000;
const REPORT_RETRY_BASE_MS = 1000;
const REPORT_RETRY_MAX_MS = 60000;

const sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

// A POST to mcpd's API over node:http(s), trusting `ca` (PEM; undefined: the system's roots):
// (url, {headers, body, timeoutMs}) => Promise<{status}>. The answer's body is read and dropped.
export function apiPost({ca} = {}) {
  return (url, {headers = {}, body = '', timeoutMs = REPORT_TIMEOUT_MS} = {}) => new Promise((resolve, reject) => {
    const u = new URL(url);
    const transport = u.protocol === 'https:' ? https : http;
    const data = Buffer.from(body, 'utf8');
    const req = transport.request(u, {method: 'POST', agent: false, ...(ca ? {ca} : {}),
      headers: {...headers, 'Content-Length': String(data.length)},
      signal: AbortSignal.timeout(timeoutMs)}, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({status: res.statusCode ?? 0}));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

// Reports the refresh tokens the provider rotated to mcpd, which seals each into the APIKey the
// instance runs with (docs/architecture.md, "Upstream OAuth 2.0"): POST
// {url}/apis/minimcp.io/v1alpha1/namespaces/{ns}/mcpinstances/{name}/oauth2token with
// {"refreshToken", "previous": sha256 hex of the one it replaces} and the instance's access
// token. One report at a time, always the newest token against the last one mcpd took; a
// network error, a timeout, 408, 429 or 5xx is retried with exponential backoff (capped, for as
// long as the process lives: mcpd may be restarting); any other refusal ends it (409: the
// stored token changed meanwhile, e.g. a new value, which replaces this process anyway). Never
// logs a token. Returns undefined without an API to report to (MCP_API_URL, MCP_INSTANCE).
//   api: {url, ca, instance: "ns/name", accessToken}; initial: the refresh token mcpd holds
export function refreshTokenReporter({api, initial, log, post = apiPost({ca: api?.ca}),
  timeoutMs = REPORT_TIMEOUT_MS, retryBaseMs = REPORT_RETRY_BASE_MS, retryMaxMs = REPORT_RETRY_MAX_MS,
  setTimer = setTimeout, clearTimer = clearTimeout}) {
  const slash = api?.instance?.indexOf('/') ?? -1;
  if (!api?.url || !api.accessToken || slash <= 0) return undefined;
  const ns = api.instance.slice(0, slash);
  const name = api.instance.slice(slash + 1);
  const target = `${api.url.replace(/\/+$/, '')}/apis/minimcp.io/v1alpha1/namespaces/` +
    `${encodeURIComponent(ns)}/mcpinstances/${encodeURIComponent(name)}/oauth2token`;
  let stored = initial; // what mcpd holds, as far as this process knows
  let pending; // the newest rotated token
  let running; // Promise of the report loop
  let closed = false;
  let wake; // {timer, resolve} while waiting to retry
  let reports = 0;

  const sleep = (ms) => new Promise((resolve) => {
    const timer = setTimer(() => { wake = undefined; resolve(); }, ms);
    timer?.unref?.();
    wake = {timer, resolve};
  });

  async function loop() {
    let failures = 0;
    while (!closed && pending !== undefined && pending !== stored) {
      const token = pending;
      let why;
      try {
        const {status} = await post(target, {
          headers: {Authorization: `Bearer ${api.accessToken}`, 'Content-Type': 'application/json'},
          body: JSON.stringify({refreshToken: token, previous: sha256Hex(stored)}),
          timeoutMs,
        });
        if (status >= 200 && status < 300) {
          stored = token;
          failures = 0;
          reports++;
          log?.info('oauth2 rotated refresh token stored by mcpd');
          continue;
        }
        if (status < 500 && status !== 408 && status !== 429) {
          log?.warn('mcpd refused the rotated refresh token; the next process starts with the stored one',
              {status});
          pending = undefined;
          break;
        }
        why = `mcpd answered ${status}`;
      } catch (err) {
        why = err?.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` :
          String(err?.cause?.code ?? err?.code ?? err?.message ?? 'error').slice(0, 100);
      }
      const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** failures++);
      log?.warn('oauth2 rotated refresh token not stored yet', {error: why, retryInMs: delay});
      await sleep(delay);
    }
  }

  return {
    report(token) {
      if (closed || typeof token !== 'string' || token === '') return;
      pending = token;
      running ??= loop().finally(() => { running = undefined; });
    },
    // Resolves once nothing is left to report (or the reporter gave up); for tests.
    async settled() {
      while (running) await running;
    },
    get stored() { return stored; },
    get reports() { return reports; },
    close() {
      closed = true;
      if (wake) {
        clearTimer(wake.timer);
        wake.resolve();
      }
    },
  };
}

// What createUpstream needs to authenticate with the instance's key, for either shape:
// {authHeaders, onUnauthorized} plus start() and close(), and `oauth2` telling which shape it is.
// A static key goes in staticHeaders(key) (default `Authorization: Bearer`, as Gmail, Slack and
// GitHub take it; Figma's personal access tokens go in X-Figma-Token); OAuth 2.0 credentials go
// through a token source whose state reaches /health (ctx.health.setKey), and its access tokens
// always as `Authorization: Bearer` (RFC 6750), which every upstream we wrap accepts for them.
export function upstreamAuth(ctx, {env = process.env,
  staticHeaders = (key) => ({Authorization: `Bearer ${key}`}), ...options} = {}) {
  let credentials;
  try {
    credentials = parseOAuth2Key(ctx.apiKey);
  } catch (err) {
    ctx.log?.warn('oauth2 credentials unusable', {error: err.message});
    ctx.health?.setKey?.({available: false, reason: err.reason});
    return {
      oauth2: true,
      authHeaders: () => { throw err; },
      start() {},
      close() {},
    };
  }
  if (!credentials) {
    return {oauth2: false, authHeaders: () => staticHeaders(ctx.apiKey), start() {}, close() {}};
  }
  const reporter = refreshTokenReporter({api: ctx.api, initial: credentials.refreshToken, log: ctx.log,
    ...(options.reporter ?? {})});
  const {reporter: _reporterOptions, ...sourceOptions} = options;
  const source = createTokenSource({
    credentials,
    log: ctx.log,
    allowHttpLoopback: env.OAUTH2_ALLOW_HTTP_LOOPBACK === 'true',
    onState: (s) => ctx.health?.setKey?.(s),
    onRotated: (token) => reporter?.report(token),
    ...sourceOptions,
  });
  const bearer = (t) => ({Authorization: `Bearer ${t}`});
  return {
    oauth2: true,
    source,
    authHeaders: async () => bearer(await source.accessToken()),
    // Retry once with a new token when the upstream rejected the one sent.
    async onUnauthorized(sentHeaders) {
      const sent = String(sentHeaders?.Authorization ?? '').replace(/^Bearer /, '');
      const next = await source.afterUnauthorized(sent);
      return next !== undefined && next !== sent;
    },
    reporter,
    start: () => source.start(),
    close: () => {
      source.close();
      reporter?.close();
    },
  };
}

// A fetch for npm clients that take one (octokit's request.fetch) and would otherwise send a
// fixed key: every request gets auth.authHeaders(), and a 401 is resent once when
// auth.onUnauthorized found a newer token (the body must be replayable: a string or bytes).
export function authorizedFetch(auth, fetch) {
  return async (input, init = {}) => {
    const send = async () => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      const added = await auth.authHeaders();
      for (const [k, v] of Object.entries(added)) headers.set(k, v);
      return {added, res: await fetch(input, {...init, headers})};
    };
    const {added, res} = await send();
    if (res.status !== 401 || !auth.onUnauthorized || !(await auth.onUnauthorized(added))) return res;
    await res.body?.cancel().catch(() => {});
    return (await send()).res;
  };
}
