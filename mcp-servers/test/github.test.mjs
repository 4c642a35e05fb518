// The github type against a local fake of the GitHub REST API v3: every tool's
// method, path, query, auth header and body, the answer mapping, and the
// documented results of an upstream 401, 404, 429-then-200 and a timeout.
import {describe, test, before, after, beforeEach} from 'node:test';
import assert from 'node:assert/strict';
import {startFakeUpstream} from '../lib/fake_upstream.js';
import {spawnServer, waitHealthy, stopServer, connectClient, withTimeout} from '../lib/testing.js';

const KEY = 'ghp_fakeTestKey0123456789abcdefABCDEF';
const TIMEOUT_MS = 400;

function textOf(result) {
  assert.equal(result.content?.[0]?.type, 'text', JSON.stringify(result));
  return result.content[0].text;
}
const jsonOf = (result) => {
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return JSON.parse(textOf(result));
};

async function waitHealth(srv, status, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await (await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(1000)})).json();
    if (last.status === status) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`health not ${status} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

describe('github type', () => {
  let fake;
  let srv;
  let client;
  const call = (name, args) => withTimeout(client.callTool({name, arguments: args}), 10000, name);

  before(async () => {
    fake = await startFakeUpstream({});
    srv = await spawnServer('github/server.js', {
      env: {API_KEY: KEY, GITHUB_API_URL: `${fake.url}/api/v3`},
      config: {retry_attempts: 2, retry_base_ms: 10, timeout_ms: TIMEOUT_MS, health_probe_ms: 50},
    });
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake?.close();
    assert.ok(!srv.out.stdout.includes(KEY) && !srv.out.stderr.includes(KEY), 'the key leaked into the logs');
  });
  beforeEach(() => fake.clear());

  function only(method, path) {
    assert.equal(fake.requests.length, 1, JSON.stringify(fake.requests.map((r) => `${r.method} ${r.path}`)));
    const r = fake.requests[0];
    assert.equal(r.method, method);
    assert.equal(r.path, `/api/v3${path}`);
    assert.equal(r.headers.authorization, `token ${KEY}`);
    assert.match(r.headers.accept, /application\/vnd\.github/);
    assert.match(r.headers['user-agent'], /^minimcp-github\//);
    return r;
  }

  test('offers the four capabilities with JSON-schema inputs', async () => {
    const {tools} = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['create_issue', 'list_repos', 'manage_pr', 'read_files']);
    const pr = tools.find((t) => t.name === 'manage_pr').inputSchema;
    assert.equal(pr.type, 'object');
    assert.deepEqual(pr.properties.action.enum, ['list', 'create', 'merge', 'comment']);
    assert.deepEqual([...pr.required].sort(), ['action', 'owner', 'repo']);
  });

  test('list_repos: the token\'s repositories, or an owner\'s', async () => {
    const repo = {full_name: 'me/one', private: true, description: 'd', default_branch: 'main',
      html_url: 'https://github.com/me/one', updated_at: '2024-01-01T00:00:00Z', node_id: 'dropped'};
    fake.setRoute('GET /api/v3/user/repos', () => ({json: [repo]}));
    fake.setRoute('GET /api/v3/users/:owner/repos', () => ({json: []}));

    const mine = jsonOf(await call('list_repos', {sort: 'updated', per_page: 5, page: 2}));
    assert.deepEqual(only('GET', '/user/repos').query, {sort: 'updated', per_page: '5', page: '2'});
    assert.deepEqual(mine, [{full_name: 'me/one', private: true, description: 'd', default_branch: 'main',
      html_url: 'https://github.com/me/one', updated_at: '2024-01-01T00:00:00Z'}]);

    fake.clear();
    assert.deepEqual(jsonOf(await call('list_repos', {owner: 'octo-org'})), []);
    assert.deepEqual(only('GET', '/users/octo-org/repos').query, {});
  });

  test('read_files: a file comes back decoded, a directory as a listing', async () => {
    const text = 'export const x = "héllo";\n'.repeat(5);
    // GitHub wraps the base64 at 60 columns.
    const b64 = Buffer.from(text).toString('base64').replace(/.{60}/g, '$&\n');
    fake.setRoute('GET /api/v3/repos/octo/hello/contents/src/lib/index.js', () => ({json: {
      type: 'file', encoding: 'base64', content: b64, path: 'src/lib/index.js', size: text.length, sha: 'abc'}}));
    const file = jsonOf(await call('read_files', {owner: 'octo', repo: 'hello', path: '/src/lib/index.js', ref: 'dev'}));
    assert.deepEqual(only('GET', '/repos/octo/hello/contents/src/lib/index.js').query, {ref: 'dev'});
    assert.equal(file.content, text);
    assert.equal(file.encoding, 'utf-8');
    assert.equal(file.path, 'src/lib/index.js');

    fake.clear();
    fake.setRoute('GET /api/v3/repos/octo/hello/contents/src', () => ({json: [
      {name: 'lib', type: 'dir', size: 0, path: 'src/lib', sha: '1', url: 'x'},
      {name: 'a.bin', type: 'file', size: 10, path: 'src/a.bin', sha: '2', url: 'y'},
    ]}));
    const dir = jsonOf(await call('read_files', {owner: 'octo', repo: 'hello', path: 'src'}));
    assert.deepEqual(only('GET', '/repos/octo/hello/contents/src').query, {});
    assert.deepEqual(dir, {type: 'dir', path: 'src', entries: [
      {name: 'lib', type: 'dir', size: 0, path: 'src/lib'},
      {name: 'a.bin', type: 'file', size: 10, path: 'src/a.bin'},
    ]});

    fake.clear();
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    fake.setRoute('GET /api/v3/repos/octo/hello/contents/logo.png', () => ({json: {
      type: 'file', encoding: 'base64', content: bytes.toString('base64'), path: 'logo.png', size: 4}}));
    const bin = jsonOf(await call('read_files', {owner: 'octo', repo: 'hello', path: 'logo.png'}));
    assert.deepEqual({encoding: bin.encoding, content: bin.content}, {encoding: 'base64', content: bytes.toString('base64')});
  });

  test('create_issue posts title, body, labels and assignees', async () => {
    fake.setRoute('POST /api/v3/repos/octo/hello/issues', () => ({status: 201, json: {
      number: 42, title: 'Bug', state: 'open', html_url: 'https://github.com/octo/hello/issues/42', id: 9}}));
    const issue = jsonOf(await call('create_issue',
        {owner: 'octo', repo: 'hello', title: 'Bug', body: 'It broke', labels: ['bug'], assignees: ['me']}));
    const r = only('POST', '/repos/octo/hello/issues');
    assert.deepEqual(r.body, {title: 'Bug', body: 'It broke', labels: ['bug'], assignees: ['me']});
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(issue, {number: 42, title: 'Bug', state: 'open', html_url: 'https://github.com/octo/hello/issues/42'});
  });

  test('manage_pr: list, create, merge and comment', async () => {
    const pr = {number: 7, title: 'Feature', state: 'open', draft: false, user: {login: 'me'},
      head: {ref: 'feat'}, base: {ref: 'main'}, html_url: 'https://github.com/octo/hello/pull/7'};
    const summary = {number: 7, title: 'Feature', state: 'open', draft: false, user: 'me', head: 'feat',
      base: 'main', html_url: 'https://github.com/octo/hello/pull/7'};
    fake.setRoute('GET /api/v3/repos/octo/hello/pulls', () => ({json: [pr]}));
    fake.setRoute('POST /api/v3/repos/octo/hello/pulls', () => ({status: 201, json: pr}));
    fake.setRoute('PUT /api/v3/repos/octo/hello/pulls/7/merge', () => ({json: {sha: 'deadbeef', merged: true, message: 'Pull Request successfully merged'}}));
    fake.setRoute('POST /api/v3/repos/octo/hello/issues/7/comments', () => ({status: 201, json: {id: 99, html_url: 'https://github.com/octo/hello/pull/7#issuecomment-99'}}));
    const repo = {owner: 'octo', repo: 'hello'};

    assert.deepEqual(jsonOf(await call('manage_pr', {action: 'list', ...repo, state: 'all', per_page: 10})), [summary]);
    assert.deepEqual(only('GET', '/repos/octo/hello/pulls').query, {state: 'all', per_page: '10'});

    fake.clear();
    assert.deepEqual(jsonOf(await call('manage_pr',
        {action: 'create', ...repo, title: 'Feature', head: 'feat', base: 'main', body: 'Adds it'})), summary);
    assert.deepEqual(only('POST', '/repos/octo/hello/pulls').body, {title: 'Feature', head: 'feat', base: 'main', body: 'Adds it'});

    fake.clear();
    assert.deepEqual(jsonOf(await call('manage_pr', {action: 'merge', ...repo, pull_number: 7, merge_method: 'squash'})),
        {merged: true, sha: 'deadbeef', message: 'Pull Request successfully merged'});
    assert.deepEqual(only('PUT', '/repos/octo/hello/pulls/7/merge').body, {merge_method: 'squash'});

    fake.clear();
    assert.deepEqual(jsonOf(await call('manage_pr', {action: 'comment', ...repo, pull_number: 7, body: 'LGTM'})),
        {id: 99, html_url: 'https://github.com/octo/hello/pull/7#issuecomment-99'});
    assert.deepEqual(only('POST', '/repos/octo/hello/issues/7/comments').body, {body: 'LGTM'});

    fake.clear();
    const missing = await call('manage_pr', {action: 'create', ...repo, title: 'No branches'});
    assert.equal(missing.isError, true);
    assert.match(textOf(missing), /needs title, head and base/);
    assert.equal(fake.requests.length, 0);
  });

  test('an upstream 401 is an auth error, sent once', async () => {
    fake.setRoute('GET /api/v3/user/repos', () => ({status: 401, json: {message: 'Bad credentials'}}));
    const r = await call('list_repos', {});
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^GitHub authentication failed \(401\): check the API key/);
    assert.ok(!textOf(r).includes(KEY));
    assert.equal(fake.requests.length, 1);
  });

  test('an upstream 404 is a tool error with status and message, not retried', async () => {
    fake.setRoute('GET /api/v3/repos/octo/nope/contents/README.md',
        () => ({status: 404, json: {message: 'Not Found', documentation_url: 'https://docs.github.com'}}));
    const r = await call('read_files', {owner: 'octo', repo: 'nope', path: 'README.md'});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'GitHub API error 404: Not Found');
    assert.equal(fake.requests.length, 1);
  });

  test('429 then 200: retried after Retry-After', async () => {
    let n = 0;
    fake.setRoute('POST /api/v3/repos/octo/hello/issues', () => (++n === 1 ?
      {status: 429, headers: {'Retry-After': '1'}, json: {message: 'API rate limit exceeded'}} :
      {status: 201, json: {number: 1, title: 'T', state: 'open', html_url: 'u'}}));
    const t0 = Date.now();
    const issue = jsonOf(await call('create_issue', {owner: 'octo', repo: 'hello', title: 'T'}));
    assert.equal(issue.number, 1);
    assert.equal(fake.requests.length, 2);
    assert.ok(Date.now() - t0 >= 900, `retried after ${Date.now() - t0} ms, before Retry-After`);
    assert.deepEqual(fake.requests[1].body, {title: 'T'});
  });

  test('a timeout is a tool error, /health degrades and then recovers', async () => {
    fake.setRoute('GET /api/v3/user/repos', () => ({delayMs: 5000, json: []}));
    const r = await call('list_repos', {});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), `GitHub API error 0: timeout after ${TIMEOUT_MS} ms`);
    assert.equal(fake.requests.filter((q) => q.path === '/api/v3/user/repos').length, 3); // 1 + retry_attempts
    const degraded = await waitHealth(srv, 'degraded');
    assert.match(degraded.reason, /GitHub API unreachable: timeout/);
    // Any answer from the upstream (the probe's) makes it healthy again.
    await waitHealth(srv, 'healthy');
  });
});
