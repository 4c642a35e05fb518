// lib/oauth2.js: the token source (refresh ahead of expiry, once on a 401, refusals for good)
// with a fake fetch and timers, and the gmail server with OAuth 2.0 credentials against a local
// fake token endpoint and a fake Gmail that accepts only live access tokens.
import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawnServer, waitHealthy, stopServer, connectClient, withTimeout} from '../lib/testing.js';
import {startFakeUpstream} from '../lib/fake_upstream.js';
import {authorizedFetch, clientAuthHeaders, createTokenSource, parseOAuth2Key, refreshDelayMs, refreshRequestBody,
  refreshTokenReporter, requestToken, tokenEndpointFetch, tokenUrlProblem, upstreamAuth} from '../lib/oauth2.js';
import {createHash} from 'node:crypto';
import {ADDRESS_REFUSED, addressReason, checkedLookup} from '../lib/addresses.js';
import http from 'node:http';

const REFRESH = '1//refresh-token-0123456789-abcdef';
const SECRET = 'client-secret-0123456789';
const CREDS = {tokenURL: 'https://idp.example/token', clientID: 'client-1', clientSecret: SECRET,
  refreshToken: REFRESH, scopes: ['a', 'b']};

function jsonResponse(status, body) {
  return new Response(JSON.stringify(body), {status, headers: {'Content-Type': 'application/json'}});
}

// A fake clock and timer queue: run() fires every timer due by `now`.
function fakeTime() {
  let now = 1_000_000;
  const timers = [];
  return {
    now: () => now,
    setTimer: (fn, ms) => {
      const t = {at: now + ms, fn};
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms) { now += ms; },
    async fireDue() {
      for (const t of timers.filter((x) => x.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
      await new Promise((r) => setImmediate(r));
    },
    next: () => Math.min(...timers.map((t) => t.at)),
    pending: () => timers.length,
  };
}

function recordingLog() {
  const secrets = new Set();
  const lines = [];
  const write = (level) => (msg, fields) => lines.push(JSON.stringify({level, msg, ...fields}));
  return {lines, secrets, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'),
    addSecret: (s) => { if (s) secrets.add(s); }};
}

describe('oauth2 pure parts', () => {
  test('tokenUrlProblem: https, or loopback http when the type allows it', () => {
    assert.equal(tokenUrlProblem('https://oauth2.googleapis.com/token'), '');
    assert.match(tokenUrlProblem('http://127.0.0.1:9/token'), /OAUTH2_ALLOW_HTTP_LOOPBACK/);
    assert.equal(tokenUrlProblem('http://127.0.0.1:9/token', {allowHttpLoopback: true}), '');
    assert.equal(tokenUrlProblem('http://[::1]:9/token', {allowHttpLoopback: true}), '');
    for (const bad of ['http://10.0.0.1/token', 'http://169.254.169.254/', 'file:///etc/passwd',
      'https://u:p@idp.example/t', 'https://idp.example/t#x', 'not a url']) {
      assert.notEqual(tokenUrlProblem(bad, {allowHttpLoopback: true}), '', bad);
    }
    // Without the admin's switch, https to the host or its networks is refused too, however
    // the address is written.
    for (const bad of ['https://127.0.0.1:9/token', 'https://2130706433/t', 'https://0x7f.1/t',
      'https://localhost/t', 'https://a.localhost./t', 'https://[::1]/t', 'https://[::ffff:127.0.0.1]/t',
      'https://[fe80::1]/t', 'https://[fd00:ec2::254]/t', 'https://169.254.169.254/t',
      'https://10.1.2.3/t', 'https://172.16.0.1/t', 'https://192.168.1.1/t', 'https://0.0.0.0/t',
      'https://[::]/t', 'https://%31%32%37.0.0.1/t']) {
      assert.match(tokenUrlProblem(bad), /must not name/, bad);
      assert.equal(tokenUrlProblem(bad, {allowHttpLoopback: true}), '', bad);
    }
    for (const ok of ['https://8.8.8.8/t', 'https://172.32.0.1/t', 'https://[2001:4860::8888]/t',
      'https://localhost.example.com/t']) {
      assert.equal(tokenUrlProblem(ok), '', ok);
    }
  });

  test('parseOAuth2Key: the sealed JSON shape, a static key, incomplete credentials', () => {
    assert.deepEqual(parseOAuth2Key(JSON.stringify({oauth2: CREDS})), {...CREDS, clientAuth: 'post'});
    assert.equal(parseOAuth2Key(JSON.stringify({oauth2: {...CREDS, clientAuth: 'basic'}})).clientAuth, 'basic');
    for (const bad of [{...CREDS, clientAuth: 'client_secret_jwt'}, {...CREDS, clientAuth: 'basic', clientSecret: undefined}]) {
      assert.throws(() => parseOAuth2Key(JSON.stringify({oauth2: bad})), (e) => e.reason === 'TokenRequestRejected');
    }
    assert.equal(parseOAuth2Key('ya29.static-token'), undefined);
    assert.equal(parseOAuth2Key('{"other": 1}'), undefined);
    assert.throws(() => parseOAuth2Key(JSON.stringify({oauth2: {...CREDS, refreshToken: ''}})),
        (e) => e.reason === 'TokenRequestRejected' && !e.message.includes(REFRESH));
  });

  test('refreshDelayMs: a third of the lifetime early, at most a minute', () => {
    assert.equal(refreshDelayMs(3000), 2000);
    assert.equal(refreshDelayMs(3600_000), 3540_000);
  });

  test('refreshRequestBody: refresh_token grant with client_secret_post and scopes', () => {
    const p = new URLSearchParams(refreshRequestBody(CREDS));
    assert.deepEqual(Object.fromEntries(p), {grant_type: 'refresh_token', refresh_token: REFRESH,
      client_id: 'client-1', client_secret: SECRET, scope: 'a b'});
    const pub = new URLSearchParams(refreshRequestBody({...CREDS, clientSecret: undefined, scopes: undefined}));
    assert.equal(pub.has('client_secret'), false);
    assert.equal(pub.has('scope'), false);
  });

  test('client_secret_basic: the form-urlencoded id and secret in HTTP Basic, none in the body', () => {
    const table = [
      // [clientID, clientSecret, the decoded Basic credentials]
      ['client-1', SECRET, `client-1:${SECRET}`],
      ['123.apps.googleusercontent.com', 'GOCSPX-abc', '123.apps.googleusercontent.com:GOCSPX-abc'],
      ['id with space:colon', 'sé cret+/=&%', 'id+with+space%3Acolon:s%C3%A9+cret%2B%2F%3D%26%25'],
    ];
    for (const [clientID, clientSecret, decoded] of table) {
      const creds = {...CREDS, clientID, clientSecret, clientAuth: 'basic'};
      const {Authorization} = clientAuthHeaders(creds);
      assert.match(Authorization, /^Basic [A-Za-z0-9+/]+=*$/);
      assert.equal(Buffer.from(Authorization.slice(6), 'base64').toString('utf8'), decoded, clientID);
      const body = Object.fromEntries(new URLSearchParams(refreshRequestBody(creds)));
      assert.deepEqual(body, {grant_type: 'refresh_token', refresh_token: REFRESH, scope: 'a b'});
    }
    for (const creds of [CREDS, {...CREDS, clientAuth: 'post'}]) {
      assert.deepEqual(clientAuthHeaders(creds), {});
      assert.equal(new URLSearchParams(refreshRequestBody(creds)).get('client_secret'), SECRET);
    }
  });

  test('requestToken: classifies the answers of RFC 6749 §5', async () => {
    const answer = (status, body) => requestToken(CREDS, {fetch: async () => jsonResponse(status, body)});
    assert.deepEqual(await answer(200, {access_token: 'at-1', token_type: 'Bearer', expires_in: 3}),
        {accessToken: 'at-1', lifetimeMs: 3000});
    assert.deepEqual(await answer(200, {access_token: 'at-1', token_type: 'bearer', refresh_token: 'rt-2'}),
        {accessToken: 'at-1', lifetimeMs: 3600_000, refreshToken: 'rt-2'});
    await assert.rejects(answer(200, {token_type: 'Bearer'}), (e) => !e.reason);
    await assert.rejects(answer(200, {access_token: 'x', token_type: 'mac'}), (e) => !e.reason);
    const cases = [[400, 'invalid_grant', 'RefreshTokenRejected'], [401, 'invalid_client', 'ClientRejected'],
      [400, 'unauthorized_client', 'ClientRejected'], [400, 'invalid_scope', 'ScopeRejected'],
      [400, 'unsupported_grant_type', 'TokenRequestRejected'], [403, undefined, 'TokenRequestRejected']];
    for (const [status, error, reason] of cases) {
      await assert.rejects(answer(status, {error, error_description: `has ${REFRESH}`}), (e) => {
        assert.equal(e.reason, reason, `${status} ${error}`);
        assert.ok(!e.message.includes(REFRESH), e.message);
        return true;
      });
    }
    for (const status of [429, 500, 503]) await assert.rejects(answer(status, {}), (e) => e.reason === undefined);
    await assert.rejects(requestToken(CREDS, {fetch: async () => { throw new TypeError('fetch failed'); }}),
        (e) => e.reason === undefined && /unreachable/.test(e.message));
  });

  test('requestToken: never follows a redirect', async () => {
    let init;
    await requestToken(CREDS, {fetch: async (_url, i) => {
      init = i;
      return jsonResponse(200, {access_token: 'x'});
    }});
    assert.equal(init.redirect, 'error');
    assert.equal(init.method, 'POST');
  });
});

describe('oauth2 token source', () => {
  function source({answers, ...rest}) {
    const time = fakeTime();
    const log = recordingLog();
    const states = [];
    const calls = [];
    const fetch = async (url, init) => {
      calls.push({url, body: Object.fromEntries(new URLSearchParams(init.body))});
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return jsonResponse(next[0], next[1]);
    };
    const src = createTokenSource({credentials: CREDS, fetch, log, now: time.now, setTimer: time.setTimer,
      clearTimer: time.clearTimer, onState: (s) => states.push(s), ...rest});
    return {src, time, log, states, calls};
  }

  test('refreshes ahead of expiry, on its own, three times over', async () => {
    const answers = [1, 2, 3, 4].map((i) => [200, {access_token: `at-${i}`, token_type: 'Bearer', expires_in: 3}]);
    const {src, time, calls, log} = source({answers});
    await src.start();
    assert.equal(await src.accessToken(), 'at-1');
    for (const i of [2, 3, 4]) {
      assert.equal(time.next() - time.now(), 2000); // a third of 3 s early
      time.advance(2000);
      await time.fireDue();
      assert.equal(await src.accessToken(), `at-${i}`);
    }
    assert.equal(calls.length, 4);
    assert.equal(src.refreshes, 4);
    assert.equal(calls[0].url, CREDS.tokenURL);
    assert.equal(calls[0].body.grant_type, 'refresh_token');
    for (const t of ['at-1', 'at-4', REFRESH, SECRET]) assert.ok(log.secrets.has(t), t);
    assert.ok(!log.lines.join('\n').includes('at-1'));
  });

  test('a token about to expire is refreshed before it is handed out', async () => {
    const answers = [[200, {access_token: 'at-1', expires_in: 3}], [200, {access_token: 'at-2', expires_in: 3}]];
    const {src, time} = source({answers});
    await src.start();
    src.close(); // no timer: only the lazy check
    time.advance(2900);
    assert.equal(await src.accessToken(), 'at-2');
  });

  test('a 401 gets one new token, shared by the requests that saw it', async () => {
    const answers = [[200, {access_token: 'at-1', expires_in: 3600}], [200, {access_token: 'at-2', expires_in: 3600}]];
    const {src, calls} = source({answers});
    await src.start();
    const [a, b] = await Promise.all([src.afterUnauthorized('at-1'), src.afterUnauthorized('at-1')]);
    assert.equal(a, 'at-2');
    assert.equal(b, 'at-2');
    assert.equal(await src.afterUnauthorized('at-1'), 'at-2'); // already replaced: no new request
    assert.equal(calls.length, 2);
  });

  test('invalid_grant: key unavailable, no more refreshing, no token', async () => {
    const answers = [[200, {access_token: 'at-1', expires_in: 3}], [400, {error: 'invalid_grant'}]];
    const {src, time, states, calls, log} = source({answers});
    await src.start();
    time.advance(2000);
    await time.fireDue();
    assert.deepEqual(states, [{available: false, reason: 'RefreshTokenRejected'}]);
    assert.deepEqual(src.state, {available: false, reason: 'RefreshTokenRejected'});
    assert.equal(time.pending(), 0);
    await assert.rejects(src.accessToken(), /invalid_grant/);
    assert.equal(await src.afterUnauthorized('at-1'), undefined);
    assert.equal(calls.length, 2);
    assert.ok(log.lines.some((l) => l.includes('RefreshTokenRejected')));
  });

  test('an unreachable endpoint is retried with backoff and the key stays available', async () => {
    const answers = [new TypeError('fetch failed'), [503, {}], [200, {access_token: 'at-1', expires_in: 60}]];
    const {src, time, states} = source({answers});
    await src.start();
    assert.equal(time.next() - time.now(), 1000);
    time.advance(1000);
    await time.fireDue();
    assert.equal(time.next() - time.now(), 2000);
    time.advance(2000);
    await time.fireDue();
    assert.equal(await src.accessToken(), 'at-1');
    assert.deepEqual(states, []);
  });

  test('a rotated refresh token is used from then on', async () => {
    const answers = [[200, {access_token: 'at-1', expires_in: 3, refresh_token: 'rt-rotated-0123456789'}],
      [200, {access_token: 'at-2', expires_in: 3}]];
    const {src, time, calls, log} = source({answers});
    await src.start();
    time.advance(2000);
    await time.fireDue();
    assert.equal(calls[1].body.refresh_token, 'rt-rotated-0123456789');
    assert.ok(log.secrets.has('rt-rotated-0123456789'));
  });

  test('plain http is refused unless the type allows loopback http', async () => {
    const creds = {...CREDS, tokenURL: 'http://127.0.0.1:1/token'};
    const {src, states, calls} = source({answers: [], credentials: creds});
    await src.start();
    assert.deepEqual(states, [{available: false, reason: 'TokenURLRefused'}]);
    assert.equal(calls.length, 0);
  });

  test('upstreamAuth: a static key is sent as is', async () => {
    const auth = upstreamAuth({apiKey: 'ya29.static'});
    assert.deepEqual(await auth.authHeaders(), {Authorization: 'Bearer ya29.static'});
    assert.equal(auth.onUnauthorized, undefined);
  });

  test('upstreamAuth: a static key goes in the type\'s own header, an access token as Bearer', async () => {
    const figmaHeaders = {staticHeaders: (k) => ({'X-Figma-Token': k})};
    const pat = upstreamAuth({apiKey: 'figd_pat'}, figmaHeaders);
    assert.equal(pat.oauth2, false);
    assert.deepEqual(await pat.authHeaders(), {'X-Figma-Token': 'figd_pat'});
    const key = JSON.stringify({oauth2: CREDS});
    const fetch = async () => jsonResponse(200, {access_token: 'at-1', expires_in: 3600});
    const oauth = upstreamAuth({apiKey: key}, {...figmaHeaders, fetch});
    assert.equal(oauth.oauth2, true);
    assert.deepEqual(await oauth.authHeaders(), {Authorization: 'Bearer at-1'});
    oauth.close();
  });

  test('authorizedFetch: the current token on every request, one resend after a 401 with a newer one', async () => {
    let n = 0;
    const tokenFetch = async () => jsonResponse(200, {access_token: `at-${++n}`, expires_in: 3600});
    const auth = upstreamAuth({apiKey: JSON.stringify({oauth2: CREDS})}, {fetch: tokenFetch});
    const seen = [];
    let refuse = 0;
    const upstream = async (url, init) => {
      const h = new Headers(init.headers);
      seen.push({url, authorization: h.get('authorization'), accept: h.get('accept'), body: init.body});
      if (refuse > 0) {
        refuse--;
        return new Response('{}', {status: 401});
      }
      return new Response('{"ok":true}', {status: 200});
    };
    const f = authorizedFetch(auth, upstream);
    const r = await f('https://api.example/user', {method: 'POST', headers: {accept: 'application/json'}, body: '{}'});
    assert.equal(r.status, 200);
    assert.deepEqual(seen, [{url: 'https://api.example/user', authorization: 'Bearer at-1', accept: 'application/json', body: '{}'}]);
    // The upstream rejects at-1: a new token, one resend; a second 401 is the answer.
    refuse = 2;
    const again = await f('https://api.example/user', {headers: {}});
    assert.equal(again.status, 401);
    assert.deepEqual(seen.slice(1).map((x) => x.authorization), ['Bearer at-1', 'Bearer at-2']);
    auth.close();
  });
});

// A resolver with dns.lookup's signature that answers from a table (no real DNS), counting calls.
function fakeResolver(table) {
  const resolve = (name, options, cb) => {
    resolve.calls.push(name);
    const answer = table[name];
    if (answer === undefined) {
      const err = new Error(`getaddrinfo ENOTFOUND ${name}`);
      err.code = 'ENOTFOUND';
      setImmediate(() => cb(err));
      return;
    }
    const list = answer.map((address) => ({address, family: address.includes(':') ? 6 : 4}));
    setImmediate(() => (options.all ? cb(null, list) : cb(null, list[0]?.address, list[0]?.family)));
  };
  resolve.calls = [];
  return resolve;
}

// A token endpoint on 127.0.0.1 that counts the connections made to it.
async function countingTokenEndpoint() {
  const seen = {connections: 0, requests: []};
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.requests.push({headers: req.headers, body});
      res.writeHead(200, {'Content-Type': 'application/json'});
      res.end(JSON.stringify({access_token: 'at-checked', token_type: 'Bearer', expires_in: 60}));
    });
  });
  server.on('connection', () => { seen.connections++; });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {seen, port: server.address().port, close: () => new Promise((r) => server.close(r))};
}

describe('oauth2 token URL addresses, checked as the connection is made', () => {
  test('addressReason: every address of the host or a network beside it, in every form', () => {
    const table = [
      // [address, expected reason ('' = public)]
      ['8.8.8.8', ''], ['172.32.0.1', ''], ['100.128.0.1', ''], ['93.184.216.34', ''],
      ['2001:4860:4860::8888', ''], ['64:ff9b::808:808', ''], ['2002:808:808::1', ''],
      ['127.0.0.1', /loopback/], ['127.0.1.1', /loopback/], ['127.255.255.254', /loopback/],
      ['0.0.0.0', /unspecified/], ['10.1.2.3', /private/], ['172.16.0.1', /private/],
      ['172.31.255.255', /private/], ['192.168.1.1', /private/], ['100.64.0.1', /carrier-grade NAT/],
      ['100.127.255.255', /carrier-grade NAT/], ['169.254.169.254', /link-local/],
      ['224.0.0.1', /multicast/], ['255.255.255.255', /reserved/], ['198.18.0.1', /benchmarking/],
      ['::', /unspecified/], ['::1', /loopback/], ['fe80::1', /link-local/], ['fe80::1%eth0', /link-local/],
      ['fd00:ec2::254', /unique local/], ['fc00::1', /unique local/], ['fec0::1', /site-local/],
      ['ff02::1', /multicast/], ['::ffff:127.0.0.1', /loopback/], ['::ffff:7f00:1', /loopback/],
      ['::ffff:169.254.169.254', /link-local/], ['::ffff:a9fe:a9fe', /link-local/], ['::ffff:10.0.0.1', /private/],
      ['::127.0.0.1', /loopback/], ['::8.8.8.8', /IPv4-compatible/], ['64:ff9b::7f00:1', /loopback/],
      ['64:ff9b::a9fe:a9fe', /link-local/], ['64:ff9b:1::1', /NAT64/], ['2002:7f00:1::', /loopback/],
      ['2002:a9fe:a9fe::', /link-local/], ['2001:0:4136:e378::1', /Teredo/], ['2001:db8::1', /documentation/],
      ['100::1', /discard/], ['localhost', /not an IP address/], ['', /not an IP address/],
    ];
    for (const [address, expected] of table) {
      if (expected === '') assert.equal(addressReason(address), '', address);
      else assert.match(addressReason(address), expected, address);
    }
  });

  test('checkedLookup: refuses a name unless every address it resolves to is public', async () => {
    const resolve = fakeResolver({
      'idp.example': ['93.184.216.34', '2606:2800:220:1::1'],
      'rebind.example': ['93.184.216.34', '127.0.0.1'], // one private answer is enough
      'metadata.example': ['169.254.169.254'],
      'mapped.example': ['::ffff:127.0.0.1'],
      'nat64.example': ['64:ff9b::a9fe:a9fe'],
      'cgnat.example': ['100.64.0.1'],
      'ula.example': ['fd00::1'],
      'zero.example': ['0.0.0.0'],
      'empty.example': [],
    });
    const lookup = (allowPrivate, name, options) => new Promise((done) => {
      checkedLookup({resolve, allowPrivate})(name, options, (err, ...rest) => done({err, rest}));
    });
    const cases = [
      // [name, allowPrivate, expected: 'ok' | 'refused' | error code]
      ['idp.example', false, 'ok'], ['rebind.example', false, 'refused'], ['metadata.example', false, 'refused'],
      ['mapped.example', false, 'refused'], ['nat64.example', false, 'refused'], ['cgnat.example', false, 'refused'],
      ['ula.example', false, 'refused'], ['zero.example', false, 'refused'], ['empty.example', false, 'ENOTFOUND'],
      ['nowhere.example', false, 'ENOTFOUND'], ['rebind.example', true, 'ok'], ['metadata.example', true, 'ok'],
    ];
    for (const [name, allowPrivate, expected] of cases) {
      for (const options of [{all: true}, {}, 4]) {
        const {err, rest} = await lookup(allowPrivate, name, options);
        const what = `${name} allowPrivate=${allowPrivate} ${JSON.stringify(options)}`;
        if (expected === 'ok') {
          assert.equal(err, null, what);
          // What the socket connects to is what the resolver answered, in the shape net asked for.
          if (options?.all) assert.ok(Array.isArray(rest[0]) && rest[0].length > 0, what);
          else assert.equal(typeof rest[0], 'string', what);
        } else if (expected === 'refused') {
          assert.equal(err?.code, ADDRESS_REFUSED, what);
          assert.match(err.message, new RegExp(`^${name} resolves to `), what);
        } else {
          assert.equal(err?.code, expected, what);
        }
      }
    }
  });

  test('tokenEndpointFetch: a name resolving to loopback is never connected to; allowed, it is', async () => {
    const endpoint = await countingTokenEndpoint();
    try {
      const resolve = fakeResolver({'idp.test': ['127.0.0.1'], 'mixed.test': ['8.8.8.8', '127.0.0.1']});
      const init = {method: 'POST', redirect: 'error', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: 'grant_type=refresh_token'};
      for (const host of ['idp.test', 'mixed.test']) {
        await assert.rejects(tokenEndpointFetch({resolve})(`http://${host}:${endpoint.port}/token`, init),
            (e) => e.code === ADDRESS_REFUSED, host);
      }
      assert.equal(endpoint.seen.connections, 0, 'a refused address was connected to');
      assert.deepEqual(resolve.calls, ['idp.test', 'mixed.test']);
      // With the admin's switch the same name gets through, to the address the resolver gave.
      const res = await tokenEndpointFetch({resolve, allowPrivate: true})(`http://idp.test:${endpoint.port}/token`, init);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).access_token, 'at-checked');
      assert.equal(endpoint.seen.connections, 1);
      assert.equal(endpoint.seen.requests[0].body, 'grant_type=refresh_token');
      assert.equal(endpoint.seen.requests[0].headers['content-length'], String('grant_type=refresh_token'.length));
    } finally {
      await endpoint.close();
    }
  });

  test('a token URL whose name resolves to the host: KeyAvailable=False, reason TokenURLAddressRefused, nothing sent', async () => {
    const endpoint = await countingTokenEndpoint();
    try {
      for (const answers of [['127.0.0.1'], ['10.0.0.7'], ['93.184.216.34', '169.254.169.254'], ['::ffff:127.0.0.1']]) {
        const resolve = fakeResolver({'token.example.com': answers});
        const states = [];
        const log = recordingLog();
        const time = fakeTime();
        const src = createTokenSource({credentials: {...CREDS, tokenURL: `https://token.example.com:${endpoint.port}/token`},
          resolve, log, onState: (s) => states.push(s), now: time.now, setTimer: time.setTimer, clearTimer: time.clearTimer});
        await src.start();
        assert.deepEqual(states, [{available: false, reason: 'TokenURLAddressRefused'}], answers.join());
        assert.equal(time.pending(), 0, 'refused for good: no retry');
        await assert.rejects(src.accessToken(), (e) => e.reason === 'TokenURLAddressRefused' &&
            /token\.example\.com resolves to/.test(e.message) && !e.message.includes(REFRESH));
        assert.ok(log.lines.some((l) => l.includes('TokenURLAddressRefused')));
        assert.ok(!log.lines.join('\n').includes(REFRESH));
      }
      assert.equal(endpoint.seen.connections, 0);
    } finally {
      await endpoint.close();
    }
  });
});

// A token endpoint that, like some providers, accepts client_secret_basic only.
describe('a token endpoint that requires HTTP Basic client authentication', () => {
  let fake;
  const CLIENT_ID = 'basic client:1';
  const CLIENT_SECRET = 'basic-secret/+= 0123456789';
  before(async () => {
    fake = await startFakeUpstream({
      'POST /token': (req) => {
        const p = new URLSearchParams(req.body);
        const auth = String(req.headers.authorization ?? '');
        const [id, secret] = auth.startsWith('Basic ') ?
          Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':').map((x) =>
            decodeURIComponent(x.replace(/\+/g, ' '))) : [];
        // One method per request (RFC 6749 §2.3.1): credentials in the body too are refused.
        if (id !== CLIENT_ID || secret !== CLIENT_SECRET || p.has('client_secret')) {
          return {status: 401, json: {error: 'invalid_client'}};
        }
        if (p.get('refresh_token') !== REFRESH) return {status: 400, json: {error: 'invalid_grant'}};
        return {json: {access_token: 'at-basic', token_type: 'Bearer', expires_in: 3600}};
      },
    });
  });
  after(async () => fake?.close());

  for (const [clientAuth, expected] of [['basic', {available: true}], ['post', {available: false, reason: 'ClientRejected'}],
    [undefined, {available: false, reason: 'ClientRejected'}]]) {
    test(`clientAuth ${clientAuth ?? '(absent)'}: ${expected.available ? 'an access token' : expected.reason}`, async () => {
      fake.clear();
      const credentials = parseOAuth2Key(JSON.stringify({oauth2: {tokenURL: `${fake.url}/token`, clientID: CLIENT_ID,
        clientSecret: CLIENT_SECRET, refreshToken: REFRESH, ...(clientAuth ? {clientAuth} : {})}}));
      const log = recordingLog();
      const src = createTokenSource({credentials, log, allowHttpLoopback: true});
      try {
        await src.start();
        assert.deepEqual(src.state, expected);
        if (expected.available) assert.equal(await src.accessToken(), 'at-basic');
        assert.equal(fake.requests.length, 1);
        const sent = fake.requests[0];
        assert.equal(sent.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.equal(String(sent.headers.authorization ?? '').startsWith('Basic '), clientAuth === 'basic');
        assert.equal(new URLSearchParams(sent.body).has('client_secret'), clientAuth !== 'basic');
        assert.ok(!log.lines.join('\n').includes(CLIENT_SECRET));
      } finally {
        src.close();
      }
    });
  }
});

describe('gmail server with OAuth 2.0 credentials', () => {
  let fake;
  let srv;
  let client;
  let issued = 0;
  const live = new Map(); // access token -> expiry (ms)
  let revoked = false;
  let rejectNext401 = false;
  const LIFETIME_S = 1;

  before(async () => {
    fake = await startFakeUpstream({
      'POST /token': (req) => {
        const p = new URLSearchParams(req.body);
        if (p.get('client_id') !== 'client-1' || p.get('client_secret') !== SECRET) {
          return {status: 401, json: {error: 'invalid_client'}};
        }
        if (revoked || p.get('refresh_token') !== REFRESH) return {status: 400, json: {error: 'invalid_grant'}};
        const token = `ya29.access-${++issued}-${Math.random().toString(36).slice(2)}`;
        live.set(token, Date.now() + LIFETIME_S * 1000);
        return {json: {access_token: token, token_type: 'Bearer', expires_in: LIFETIME_S}};
      },
      'GET /gmail/v1/users/me/messages': (req) => {
        const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
        if (rejectNext401 || !(live.get(token) > Date.now())) {
          rejectNext401 = false;
          return {status: 401, json: {error: {code: 401, message: 'Invalid Credentials'}}};
        }
        return {json: {messages: [{id: 'm1', threadId: 't1'}], resultSizeEstimate: 1}};
      },
    });
    const key = JSON.stringify({oauth2: {...CREDS, tokenURL: `${fake.url}/token`}});
    srv = await spawnServer('gmail/server.js', {
      config: {timeout_ms: 2000, retry_attempts: 0},
      env: {API_KEY: key, GMAIL_API_ENDPOINT: fake.url, OAUTH2_ALLOW_HTTP_LOOPBACK: 'true', LOG_LEVEL: 'debug'},
    });
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake.close();
  });

  const list = () => withTimeout(client.callTool({name: 'list_messages', arguments: {}}), 10000, 'list_messages');
  const health = async () => (await fetch(`${srv.url}/health`)).json();

  async function until(what, cond, ms = 10000) {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('answers across refreshes, retries once on a 401, reports a revoked refresh token', async () => {
    for (const n of [2, 3, 4]) {
      await until(`refresh ${n}`, () => issued >= n);
      const r = await list();
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.deepEqual(r.structuredContent.messages, [{id: 'm1', threadId: 't1'}]);
    }
    const before401 = issued;
    rejectNext401 = true;
    const r = await list();
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.equal(issued, before401 + 1);

    revoked = true;
    await until('key rejected in /health', async () => (await health()).key?.reason === 'RefreshTokenRejected');
    const h = await health();
    assert.deepEqual(h.key, {available: false, reason: 'RefreshTokenRejected'});
    assert.equal(h.status, 'healthy'); // the process is fine: no restart
    await until('the last token expired', () => [...live.values()].every((t) => t < Date.now()));
    const failed = await list();
    assert.equal(failed.isError, true);
    assert.match(failed.content[0].text, /invalid_grant/);

    const out = srv.out.stdout + srv.out.stderr;
    assert.match(out, /oauth2 access token refreshed/);
    for (const secret of [REFRESH, SECRET, ...live.keys()]) assert.ok(!out.includes(secret), 'a secret in the log');
    assert.ok(!JSON.stringify(failed).includes(REFRESH));
  });
});

const sha256 = (t) => createHash('sha256').update(t).digest('hex');

// A provider that rotates refresh tokens: every new one is reported to mcpd (here a fake of its
// oauth2token subresource), one report at a time, retried with backoff, never logged.
describe('oauth2 rotated refresh tokens reported to mcpd', () => {
  const API = {url: 'https://127.0.0.1:7443/', instance: 'alice/inbox', accessToken: 'mcpi_instance-token'};
  const TARGET = 'https://127.0.0.1:7443/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances/inbox/oauth2token';

  function reporter(statuses) {
    const time = fakeTime();
    const log = recordingLog();
    const posts = [];
    const post = async (url, init) => {
      posts.push({url, headers: init.headers, body: JSON.parse(init.body), timeoutMs: init.timeoutMs});
      const next = statuses.shift();
      if (next instanceof Error) throw next;
      return {status: next};
    };
    const r = refreshTokenReporter({api: API, initial: REFRESH, log, post, setTimer: time.setTimer,
      clearTimer: time.clearTimer});
    return {r, time, log, posts};
  }

  test('without MCP_API_URL or MCP_INSTANCE there is nothing to report to', () => {
    assert.equal(refreshTokenReporter({api: {accessToken: 't'}, initial: REFRESH}), undefined);
    assert.equal(refreshTokenReporter({api: {url: 'https://x', accessToken: 't'}, initial: REFRESH}), undefined);
  });

  test('the token source reports each rotated refresh token, chained by the hash of the one before', async () => {
    const {r, posts, log} = reporter([200, 200]);
    const answers = [[200, {access_token: 'at-1', expires_in: 3, refresh_token: 'rt-rotated-1-0123456789'}],
      [200, {access_token: 'at-2', expires_in: 3, refresh_token: 'rt-rotated-2-0123456789'}]];
    const time = fakeTime();
    const fetch = async () => jsonResponse(...answers.shift());
    const src = createTokenSource({credentials: CREDS, fetch, log, now: time.now, setTimer: time.setTimer,
      clearTimer: time.clearTimer, onRotated: (t) => r.report(t)});
    await src.start();
    await r.settled();
    time.advance(2000);
    await time.fireDue();
    await r.settled();
    assert.equal(posts.length, 2);
    assert.equal(posts[0].url, TARGET);
    assert.equal(posts[0].headers.Authorization, 'Bearer mcpi_instance-token');
    assert.ok(posts[0].timeoutMs > 0, 'every report has a timeout');
    assert.deepEqual(posts[0].body, {refreshToken: 'rt-rotated-1-0123456789', previous: sha256(REFRESH)});
    assert.deepEqual(posts[1].body, {refreshToken: 'rt-rotated-2-0123456789',
      previous: sha256('rt-rotated-1-0123456789')});
    assert.equal(r.stored, 'rt-rotated-2-0123456789');
    const lines = log.lines.join('\n');
    assert.match(lines, /oauth2 rotated refresh token stored by mcpd/);
    for (const t of [REFRESH, 'rt-rotated-1-0123456789', 'rt-rotated-2-0123456789', 'mcpi_instance-token']) {
      assert.ok(!lines.includes(t), 'a token in the log');
    }
  });

  test('mcpd unreachable or 503: retried with backoff; a newer rotation meanwhile is what gets stored', async () => {
    const {r, time, posts, log} = reporter([Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}),
      503, 200]);
    r.report('rt-a-0123456789');
    await new Promise((res) => setImmediate(res));
    assert.equal(posts.length, 1);
    assert.equal(time.next() - time.now(), 1000, 'first retry after 1 s');
    r.report('rt-b-0123456789'); // rotated again while waiting
    time.advance(1000);
    await time.fireDue();
    await new Promise((res) => setImmediate(res));
    assert.equal(posts.length, 2);
    assert.equal(time.next() - time.now(), 2000, 'the backoff doubles');
    time.advance(2000);
    await time.fireDue();
    await r.settled();
    assert.equal(posts.length, 3);
    // Always against what mcpd holds: the first token, never the one that was never stored.
    assert.deepEqual(posts[2].body, {refreshToken: 'rt-b-0123456789', previous: sha256(REFRESH)});
    assert.equal(r.stored, 'rt-b-0123456789');
    assert.match(log.lines.join('\n'), /not stored yet.*ECONNREFUSED/);
  });

  test('409 (the stored token changed meanwhile) or 403 ends the report; close() stops a retry', async () => {
    const conflict = reporter([409]);
    conflict.r.report('rt-a-0123456789');
    await conflict.r.settled();
    assert.equal(conflict.posts.length, 1);
    assert.equal(conflict.r.stored, REFRESH);
    assert.equal(conflict.time.pending(), 0, 'no retry');
    assert.match(conflict.log.lines.join('\n'), /refused the rotated refresh token.*409/);

    const down = reporter([503]);
    down.r.report('rt-a-0123456789');
    await new Promise((res) => setImmediate(res));
    assert.equal(down.time.pending(), 1);
    down.r.close();
    await down.r.settled();
    assert.equal(down.time.pending(), 0);
  });
});

describe('gmail server reporting a rotated refresh token to a fake mcpd', () => {
  let fake;
  let srv;
  let client;
  let current = REFRESH; // the one refresh token the provider accepts now
  let stored = REFRESH; // what the fake mcpd holds
  const reports = [];
  const TOKEN = 'mcpi_gmail-instance-token-0123456789';

  before(async () => {
    fake = await startFakeUpstream({
      'POST /token': (req) => {
        const p = new URLSearchParams(req.body);
        if (p.get('refresh_token') !== current) return {status: 400, json: {error: 'invalid_grant'}};
        current = `rt-rotated-${reports.length + 1}-${Math.random().toString(36).slice(2)}`;
        return {json: {access_token: `ya29.${Math.random().toString(36).slice(2)}`, expires_in: 3600,
          refresh_token: current}};
      },
      'POST /apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances/inbox/oauth2token': (req) => {
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return {status: 403, json: {}};
        reports.push(req.body);
        if (req.body.previous !== sha256(stored)) return {status: 409, json: {}};
        stored = req.body.refreshToken;
        return {json: {kind: 'OAuth2TokenReport', version: reports.length + 1}};
      },
      'GET /gmail/v1/users/me/messages': () => ({json: {messages: [], resultSizeEstimate: 0}}),
    });
    const key = JSON.stringify({oauth2: {...CREDS, tokenURL: `${fake.url}/token`}});
    srv = await spawnServer('gmail/server.js', {
      token: TOKEN,
      config: {timeout_ms: 2000, retry_attempts: 0},
      env: {API_KEY: key, GMAIL_API_ENDPOINT: fake.url, OAUTH2_ALLOW_HTTP_LOOPBACK: 'true', LOG_LEVEL: 'debug',
        MCP_API_URL: fake.url, MCP_INSTANCE: 'alice/inbox'},
    });
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake.close();
  });

  test('the first refresh rotates the token; the process reports it, and it is the one stored', async () => {
    const r = await withTimeout(client.callTool({name: 'list_messages', arguments: {}}), 10000, 'list_messages');
    assert.equal(r.isError, undefined, JSON.stringify(r));
    const deadline = Date.now() + 10000;
    while (stored !== current) {
      if (Date.now() > deadline) throw new Error('the rotated refresh token was never reported');
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(reports.length, 1);
    assert.deepEqual(reports[0], {refreshToken: current, previous: sha256(REFRESH)});
    const out = srv.out.stdout + srv.out.stderr;
    assert.match(out, /oauth2 rotated refresh token stored by mcpd/);
    for (const secret of [REFRESH, current, TOKEN]) assert.ok(!out.includes(secret), 'a secret in the log');
  });
});

// figma, github and slack take the same OAuth 2.0 credentials: each keeps its access token fresh
// and sends it as Bearer (never the credentials JSON), and a revoked refresh token reaches /health.
describe('figma, github and slack servers with OAuth 2.0 credentials', () => {
  const LIFETIME_S = 1;
  let fake;
  let issued = 0;
  let revoked = false;
  const live = new Map();
  const liveToken = (req) => live.get(String(req.headers.authorization ?? '').replace(/^Bearer /, '')) > Date.now();
  const unauthorized = {status: 401, json: {message: 'Bad credentials'}};

  before(async () => {
    fake = await startFakeUpstream({
      'POST /token': (req) => {
        const p = new URLSearchParams(req.body);
        if (revoked || p.get('refresh_token') !== REFRESH || p.get('client_secret') !== SECRET) {
          return {status: 400, json: {error: 'invalid_grant'}};
        }
        const token = `at-${++issued}-${Math.random().toString(36).slice(2)}`;
        live.set(token, Date.now() + LIFETIME_S * 1000);
        return {json: {access_token: token, token_type: 'bearer', expires_in: LIFETIME_S}};
      },
      'GET /v1/files/:key/comments': (req) => liveToken(req) ? {json: {comments: [{id: 'c1', message: 'ok'}]}} : unauthorized,
      'GET /user/repos': (req) => liveToken(req) ? {json: [{full_name: 'octo/hello', id: 1}]} : unauthorized,
      // Slack answers a dead token with HTTP 200 {ok:false}.
      'GET /auth.test': (req) => ({json: liveToken(req) ? {ok: true, team: 'T', user: 'u'} : {ok: false, error: 'token_expired'}}),
      'GET /conversations.list': (req) => ({json: liveToken(req) ?
        {ok: true, channels: [{id: 'C1', name: 'general'}]} : {ok: false, error: 'token_expired'}}),
    });
  });
  after(async () => fake?.close());

  const SERVERS = [
    {file: 'figma/server.js', env: 'FIGMA_API_ENDPOINT', tool: 'get_comments', args: {file_key: 'abcDEF123'},
      path: '/v1/files/abcDEF123/comments', expect: /"c1"/},
    {file: 'github/server.js', env: 'GITHUB_API_URL', tool: 'list_repos', args: {}, path: '/user/repos', expect: /octo\/hello/},
    {file: 'slack/server.js', env: 'SLACK_API_URL', tool: 'list_channels', args: {}, path: '/conversations.list',
      expect: /general/},
  ];
  for (const s of SERVERS) {
    test(`${s.file}: answers across refreshes with Bearer access tokens, reports a revoked refresh token`, async () => {
      revoked = false;
      const key = JSON.stringify({oauth2: {...CREDS, tokenURL: `${fake.url}/token`}});
      const srv = await spawnServer(s.file, {
        config: {timeout_ms: 2000, retry_attempts: 0},
        env: {API_KEY: key, [s.env]: fake.url, OAUTH2_ALLOW_HTTP_LOOPBACK: 'true'},
      });
      let client;
      try {
        await waitHealthy(srv);
        ({client} = await connectClient(srv));
        const start = issued;
        for (let n = 1; n <= 2; n++) {
          const deadline = Date.now() + 10000;
          while (issued < start + n) {
            assert.ok(Date.now() < deadline, `refresh ${n}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          const r = await withTimeout(client.callTool({name: s.tool, arguments: s.args}), 10000, s.tool);
          assert.equal(r.isError, undefined, JSON.stringify(r));
          assert.match(r.content[0].text, s.expect);
        }
        const calls = fake.requests.filter((r) => r.path === s.path);
        assert.ok(calls.length >= 2);
        for (const c of calls) assert.match(String(c.headers.authorization), /^Bearer at-\d+-/);
        for (const c of fake.requests) assert.ok(!JSON.stringify(c.headers).includes(REFRESH), 'credentials sent upstream');

        revoked = true;
        const deadline = Date.now() + 10000;
        let h;
        do {
          assert.ok(Date.now() < deadline, `/health: ${JSON.stringify(h)}`);
          await new Promise((r) => setTimeout(r, 20));
          h = await (await fetch(`${srv.url}/health`)).json();
        } while (h.key?.reason !== 'RefreshTokenRejected');
        assert.deepEqual(h.key, {available: false, reason: 'RefreshTokenRejected'});
        const out = srv.out.stdout + srv.out.stderr;
        for (const secret of [REFRESH, SECRET, ...live.keys()]) assert.ok(!out.includes(secret), 'a secret in the log');
      } finally {
        await client?.close().catch(() => {});
        await stopServer(srv);
        fake.clear();
      }
    });
  }
});
