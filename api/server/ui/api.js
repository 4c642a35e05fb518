// mcpd's API as the page uses it: JSON requests with the pasted token as a bearer header, and
// list-then-watch of a collection the way client-go's reflector does it (resume from the last
// resourceVersion, relist on 410 Gone, reconnect with backoff).

export const GROUP_PATH = '/apis/minimcp.io/v1alpha1';

// A refusal from mcpd (a Kubernetes Status) or a failure to reach it (status 0).
export class ApiError extends Error {
  constructor(status, message, reason = '') {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`;
  let reason = '';
  try {
    const body = await response.json();
    if (body && typeof body.message === 'string' && body.message) message = body.message;
    if (body && typeof body.reason === 'string') reason = body.reason;
  } catch {
    // not a Status: keep the HTTP status line
  }
  return new ApiError(response.status, message, reason);
}

export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    return {Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...extra};
  }

  async fetch(path, init = {}) {
    let response;
    try {
      response = await fetch(path, {
        ...init,
        headers: this.headers(init.headers),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, `cannot reach mcpd (${e.message})`);
    }
    if (!response.ok) {
      const err = await errorFrom(response);
      if (err.status === 401 && this.onUnauthorized) this.onUnauthorized(err);
      throw err;
    }
    return response;
  }

  async get(path, signal) {
    return (await this.fetch(path, {signal})).json();
  }

  async text(path, signal) {
    return (await this.fetch(path, {signal, headers: {Accept: 'text/plain'}})).text();
  }

  // Who the token is (`kubectl auth whoami`): {username, groups, extra}.
  async whoami() {
    const response = await this.fetch('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
        metadata: {},
      }),
    });
    const review = await response.json();
    return (review.status && review.status.userInfo) || {};
  }
}

// The lines of a streamed body, as they arrive.
export async function* lines(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, {stream: true});
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        yield buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
      }
    }
    buffered += decoder.decode();
    if (buffered) yield buffered;
  } finally {
    reader.releaseLock();
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, {once: true});
  });

// Lists `path` (with `query`, e.g. a fieldSelector), then watches it from the list's
// resourceVersion until stop(). Calls handlers.reset(items) after each (re)list,
// handlers.event(type, object) for ADDED, MODIFIED and DELETED, handlers.state(s) with
// 'live' (watching), 'connecting' or 'retrying' (with the error), and handlers.failed(error)
// when mcpd refuses the list for good (403, 404).
export function listWatch(api, path, query, handlers) {
  const abort = new AbortController();
  const signal = abort.signal;
  const url = (params) => `${path}?${new URLSearchParams({...query, ...params})}`;

  (async () => {
    let rv = '';
    let delay = 0;
    while (!signal.aborted) {
      try {
        if (!rv) {
          handlers.state('connecting');
          const list = await api.get(url({}), signal);
          rv = (list.metadata && list.metadata.resourceVersion) || '0';
          handlers.reset(list.items || []);
        }
        const response = await api.fetch(
            url({watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true'}), {signal});
        handlers.state('live');
        const since = Date.now();
        for await (const line of lines(response)) {
          if (!line.trim()) continue;
          const ev = JSON.parse(line);
          const obj = ev.object || {};
          if (ev.type === 'ERROR') {
            // 410: the resourceVersion is too old for the server's history; list again.
            if (obj.code === 410) rv = '';
            throw new ApiError(obj.code || 500, obj.message || 'watch error', obj.reason || '');
          }
          if (obj.metadata && obj.metadata.resourceVersion) rv = obj.metadata.resourceVersion;
          if (ev.type !== 'BOOKMARK') handlers.event(ev.type, obj);
        }
        // The server ended the watch (its timeout, or it is stopping): resume at once, unless
        // watches keep ending as soon as they start.
        if (Date.now() - since > 5000) {
          delay = 0;
          continue;
        }
        throw new ApiError(0, 'the watch ended at once');
      } catch (e) {
        if (signal.aborted) return;
        if (e.status === 410) rv = '';
        if (e.status === 401) return;  // the token is gone: Api told the page
        if (e.status === 403 || e.status === 404) {
          handlers.failed(e);
          return;
        }
        handlers.state('retrying', e);
        // 0.5 s doubling to 30 s, with jitter so that many tabs do not reconnect in step.
        delay = Math.min(30000, delay ? delay * 2 : 500);
        await sleep(delay * (0.8 + 0.4 * Math.random()), signal);
      }
    }
  })();

  return {stop: () => abort.abort()};
}
