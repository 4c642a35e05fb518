// One fake upstream API (gmail | figma | github | slack, each also as KIND-oauth2) as its own
// process, for the types end-to-end test: mcp-servers/lib/fake_upstream.js with canned
// answers that the test's assertions mirror, plus a control route for the test.
//
//   node tests/e2e/types/fake_upstream_server.mjs KIND
//
// KIND-oauth2 is the fake API that accepts only live access tokens, next to a fake OAuth 2.0
// provider issuing them: POST /token (refresh_token grant, and authorization_code with PKCE
// S256; the client authenticates in the body or with HTTP Basic), GET /authorize (consents at
// once: 302 to redirect_uri with a code and the state).
// Access tokens live FAKE_TOKEN_TTL_S seconds (3). GET /__fake/oauth2 tells the test the client
// secret and refresh token to store, how many access tokens it issued and which, and how the
// client authenticated its refresh grants (clientAuth: {basic, post});
// POST /__fake/oauth2/revoke revokes every refresh token. POST /__fake/oauth2/rotate?ttl=S makes
// the provider rotate refresh tokens from then on (each refresh grant answers a new refresh token
// and invalidates the one it was given, as Slack and Google may) and issues access tokens that
// live S seconds; GET /__fake/oauth2 then also lists every refresh token issued (`allRefreshTokens`)
// and counts the grants refused with a stale one (`staleGrants`).
//
// Prints one line {"url": "http://127.0.0.1:PORT"} once it listens. Every request
// is recorded; GET /__fake/requests answers the records (without the control
// requests themselves). SIGTERM closes it.

import {createHash, randomBytes} from 'node:crypto';
import {startFakeUpstream} from '../../../mcp-servers/lib/fake_upstream.js';

const b64url = (s) => Buffer.from(s, 'utf8').toString('base64url');

const ROUTES = {
  gmail: {
    // list_messages and search_messages both page through messages (q tells them apart).
    'GET /gmail/v1/users/me/messages': (req) => ({json: req.query.q ?
      {messages: [{id: 'm2', threadId: 't2'}], resultSizeEstimate: 1} :
      {messages: [{id: 'm1', threadId: 't1'}, {id: 'm2', threadId: 't2'}], nextPageToken: 'page-2',
        resultSizeEstimate: 2}}),
    'GET /gmail/v1/users/me/messages/:id': (req) => ({json: {
      id: req.params.id, threadId: 't1', labelIds: ['INBOX'], snippet: 'Hello',
      payload: {
        mimeType: 'multipart/alternative',
        headers: [
          {name: 'Subject', value: 'Quarterly report'},
          {name: 'From', value: 'Alice <alice@example.com>'},
          {name: 'To', value: 'bob@example.com'},
          {name: 'Date', value: 'Tue, 1 Jul 2025 10:00:00 +0000'},
        ],
        parts: [
          {mimeType: 'text/plain', body: {size: 22, data: b64url('Numbers are attached.\r\n')}},
          {mimeType: 'text/html', body: {size: 30, data: b64url('<p>Numbers are attached.</p>')}},
        ],
      },
    }}),
    'POST /gmail/v1/users/me/messages/send': () => ({json: {id: 'sent-1', threadId: 't9', labelIds: ['SENT']}}),
  },
  figma: {
    'GET /v1/projects/:id/files': () => ({json: {name: 'Design System', files: [
      {key: 'abcDEF123', name: 'Buttons', thumbnail_url: 'https://t.example/1.png', last_modified: '2025-01-02T03:04:05Z'},
    ]}}),
    'GET /v1/files/:key': (req) => ({json: {
      name: 'Buttons', lastModified: '2025-01-02T03:04:05Z', version: '987', editorType: 'figma',
      document: {id: '0:0', name: 'Document', type: 'DOCUMENT', children: [
        {id: '0:1', name: 'Page 1', type: 'CANVAS', backgroundColor: {r: 1}, children: [
          {id: '1:2', name: 'Primary', type: 'FRAME', absoluteBoundingBox: {x: 0}},
        ]},
      ]},
      key: req.params.key,
    }}),
    'GET /v1/images/:key': (req) => ({json: {err: null, images: Object.fromEntries(
        String(req.query.ids ?? '').split(',').map((id) => [id, `https://render.example/${encodeURIComponent(id)}.png`]))}}),
    'GET /v1/files/:key/comments': () => ({json: {comments: [
      {id: 'c1', message: 'Looks good', user: {handle: 'carol'}, created_at: '2025-01-03T00:00:00Z',
        client_meta: {node_id: '1:2'}},
    ]}}),
  },
  github: {
    'GET /api/v3/user/repos': () => ({json: [{full_name: 'octo/hello', private: false, description: 'Hi',
      default_branch: 'main', html_url: 'https://github.com/octo/hello', updated_at: '2025-01-01T00:00:00Z', id: 1}]}),
    'GET /api/v3/repos/:owner/:repo/contents/README.md': () => ({json: {type: 'file', encoding: 'base64',
      // GitHub wraps the base64 at 60 columns.
      content: Buffer.from('# hello\nA greeting repository.\n').toString('base64').replace(/.{60}/g, '$&\n'),
      path: 'README.md', size: 31, sha: 'abc123'}}),
    'GET /api/v3/repos/:owner/:repo/contents/src': () => ({json: [
      {name: 'lib', type: 'dir', size: 0, path: 'src/lib', sha: '1'},
      {name: 'main.js', type: 'file', size: 12, path: 'src/main.js', sha: '2'},
    ]}),
    'POST /api/v3/repos/:owner/:repo/issues': (req) => ({status: 201, json: {number: 42, title: req.body.title,
      state: 'open', html_url: 'https://github.com/octo/hello/issues/42'}}),
    'GET /api/v3/repos/:owner/:repo/pulls': () => ({json: [{number: 7, title: 'Feature', state: 'open', draft: false,
      user: {login: 'me'}, head: {ref: 'feat'}, base: {ref: 'main'}, html_url: 'https://github.com/octo/hello/pull/7'}]}),
    'POST /api/v3/repos/:owner/:repo/pulls': (req) => ({status: 201, json: {number: 8, title: req.body.title,
      state: 'open', draft: false, user: {login: 'me'}, head: {ref: req.body.head}, base: {ref: req.body.base},
      html_url: 'https://github.com/octo/hello/pull/8'}}),
    'PUT /api/v3/repos/:owner/:repo/pulls/:n/merge': () => ({json: {sha: 'deadbeef', merged: true,
      message: 'Pull Request successfully merged'}}),
    'POST /api/v3/repos/:owner/:repo/issues/:n/comments': () => ({status: 201, json: {id: 99,
      html_url: 'https://github.com/octo/hello/pull/7#issuecomment-99'}}),
  },
  slack: {
    'GET /api/auth.test': () => ({json: {ok: true, url: 'https://e2e.slack.com/', team: 'E2E', user: 'minimcp',
      team_id: 'T0001', user_id: 'U0001'}}),
    'GET /api/conversations.list': () => ({json: {ok: true, channels: [
      {id: 'C0001', name: 'general', is_private: false, is_archived: false, is_member: true, num_members: 12,
        topic: {value: 'Company-wide'}},
      {id: 'C0002', name: 'random', is_private: false, is_archived: false, is_member: false, num_members: 3,
        topic: {value: ''}},
    ], response_metadata: {next_cursor: 'dGVhbTpDMDAwMw=='}}}),
    'POST /api/chat.postMessage': (req) => ({json: {ok: true, channel: req.body.channel, ts: '1700000001.000200',
      message: {text: req.body.text, thread_ts: req.body.thread_ts}}}),
  },
};

// --- gmail-oauth2 ------------------------------------------------------------------------
const rand = () => randomBytes(12).toString('base64url');
const provider = {
  clientId: 'e2e-client',
  clientSecret: `e2e-secret-${rand()}`,
  refreshTokens: new Set([`1//e2e-refresh-${rand()}`]),
  ttlSeconds: Number(process.env.FAKE_TOKEN_TTL_S ?? 3),
  issued: [], // every access token, in order
  live: new Map(), // access token -> expiry (ms)
  codes: new Map(), // code -> {challenge, redirectUri}
  revoked: false,
  rotate: false,
  allRefreshTokens: [],
  staleGrants: 0,
  refreshGrants: 0,
  clientAuth: {basic: 0, post: 0}, // refresh grants by how the client authenticated
  codeGrants: 0,
};

function tokenError(status, error) {
  return {status, json: {error}};
}

function issue(refreshToken) {
  const accessToken = `ya29.e2e-access-${rand()}`;
  provider.issued.push(accessToken);
  provider.live.set(accessToken, Date.now() + provider.ttlSeconds * 1000);
  return {json: {access_token: accessToken, token_type: 'Bearer', expires_in: provider.ttlSeconds,
    ...(refreshToken ? {refresh_token: refreshToken} : {})}};
}

// The client's credentials, as RFC 6749 §2.3.1 allows them: HTTP Basic (client_secret_basic:
// the form-urlencoded id and secret) or in the body (client_secret_post); both at once is refused.
function clientOf(req, p) {
  const auth = String(req.headers.authorization ?? '');
  if (!auth.startsWith('Basic ')) return {id: p.get('client_id'), secret: p.get('client_secret'), method: 'post'};
  if (p.has('client_secret')) return {};
  const pair = Buffer.from(auth.slice(6), 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  const decode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return {id: decode(pair.slice(0, colon)), secret: decode(pair.slice(colon + 1)), method: 'basic'};
  } catch {
    return {};
  }
}

function tokenEndpoint(req) {
  const p = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
  const client = clientOf(req, p);
  if (!client.method || client.id !== provider.clientId || client.secret !== provider.clientSecret) {
    return tokenError(401, 'invalid_client');
  }
  if (p.get('grant_type') === 'refresh_token') {
    if (provider.revoked || !provider.refreshTokens.has(p.get('refresh_token'))) {
      if (provider.allRefreshTokens.includes(p.get('refresh_token'))) provider.staleGrants++;
      return tokenError(400, 'invalid_grant');
    }
    provider.refreshGrants++;
    provider.clientAuth[client.method]++;
    if (!provider.rotate) return issue();
    provider.refreshTokens.delete(p.get('refresh_token'));
    const next = `1//e2e-rotated-${rand()}`;
    provider.refreshTokens.add(next);
    provider.allRefreshTokens.push(next);
    return issue(next);
  }
  if (p.get('grant_type') === 'authorization_code') {
    const c = provider.codes.get(p.get('code'));
    provider.codes.delete(p.get('code'));
    const challenge = createHash('sha256').update(p.get('code_verifier') ?? '').digest('base64url');
    if (!c || c.challenge !== challenge || c.redirectUri !== p.get('redirect_uri')) return tokenError(400, 'invalid_grant');
    provider.codeGrants++;
    const refreshToken = `1//e2e-refresh-${rand()}`;
    provider.refreshTokens.add(refreshToken);
    return issue(refreshToken);
  }
  return tokenError(400, 'unsupported_grant_type');
}

function authorize(req) {
  const q = req.query;
  const redirect = new URL(String(q.redirect_uri ?? ''));
  if (q.client_id !== provider.clientId || q.response_type !== 'code' || q.code_challenge_method !== 'S256' ||
      !q.code_challenge || redirect.hostname !== '127.0.0.1') {
    return {status: 400, text: 'bad authorization request'};
  }
  const code = `code-${rand()}`;
  provider.codes.set(code, {challenge: q.code_challenge, redirectUri: q.redirect_uri});
  redirect.searchParams.set('code', code);
  redirect.searchParams.set('state', String(q.state ?? ''));
  return {status: 302, headers: {Location: redirect.href}, text: ''};
}

// How each API answers a request without a live access token.
const EXPIRED = {
  gmail: {status: 401, json: {error: {code: 401, message: 'Request had invalid authentication credentials.',
    status: 'UNAUTHENTICATED'}}},
  figma: {status: 403, json: {status: 403, err: 'Invalid token'}},
  github: {status: 401, json: {message: 'Bad credentials'}},
  slack: {json: {ok: false, error: 'token_expired'}}, // Slack's errors are HTTP 200
};

// The KIND routes behind a check of the access token, as KIND answers an expired one.
function withLiveToken(kind, handler) {
  return (req) => {
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!(provider.live.get(token) > Date.now())) return EXPIRED[kind];
    return handler(req);
  };
}

const oauth2Routes = (kind) => ({
  ...Object.fromEntries(Object.entries(ROUTES[kind]).map(([k, h]) => [k, withLiveToken(kind, h)])),
  'POST /token': tokenEndpoint,
  'GET /authorize': authorize,
  'GET /__fake/oauth2': () => ({json: {clientId: provider.clientId, clientSecret: provider.clientSecret,
    refreshTokens: [...provider.refreshTokens], issued: provider.issued, refreshGrants: provider.refreshGrants,
    codeGrants: provider.codeGrants, revoked: provider.revoked, clientAuth: provider.clientAuth,
    allRefreshTokens: provider.allRefreshTokens, staleGrants: provider.staleGrants}}),
  'POST /__fake/oauth2/rotate': (req) => {
    provider.rotate = true;
    provider.allRefreshTokens.push(...provider.refreshTokens);
    const ttl = Number(req.query.ttl);
    if (ttl > 0) provider.ttlSeconds = ttl;
    return {json: {rotate: true, ttlSeconds: provider.ttlSeconds}};
  },
  'POST /__fake/oauth2/revoke': () => {
    provider.revoked = true;
    return {json: {revoked: true}};
  },
});
for (const kind of Object.keys(ROUTES)) ROUTES[`${kind}-oauth2`] = oauth2Routes(kind);

const kind = process.argv[2];
if (!ROUTES[kind]) {
  console.error(`usage: node fake_upstream_server.mjs ${Object.keys(ROUTES).join('|')}`);
  process.exit(2);
}

const CONTROL = '/__fake/';
const fake = await startFakeUpstream(ROUTES[kind]);
fake.setRoute('GET /__fake/requests', () => ({json: fake.requests.filter((r) => !r.path.startsWith(CONTROL))}));

let closing = false;
async function close() {
  if (closing) process.exit(0); // a second signal: now
  closing = true;
  await fake.close();
  process.exit(0);
}
process.on('SIGTERM', close);
process.on('SIGINT', close);

console.log(JSON.stringify({url: fake.url, kind}));
