// figma server against a local fake of the Figma REST API v1.
import {describe, test, before, after, beforeEach} from 'node:test';
import assert from 'node:assert/strict';
import {spawnServer, waitHealthy, stopServer, connectClient, withTimeout} from '../lib/testing.js';
import {startFakeUpstream} from '../lib/fake_upstream.js';

const KEY = 'figd_test-personal-token-0123456789';
const CONFIG = {timeout_ms: 300, retry_attempts: 2, retry_base_ms: 10, health_probe_ms: 50};

function textOf(result) {
  assert.equal(result.content?.[0]?.type, 'text', JSON.stringify(result));
  return result.content[0].text;
}

async function health(srv) {
  const r = await fetch(`${srv.url}/health`, {signal: AbortSignal.timeout(2000)});
  return {status: r.status, body: await r.json()};
}

async function waitStatus(srv, status) {
  await withTimeout((async () => {
    while ((await health(srv)).body.status !== status) await new Promise((res) => setTimeout(res, 20));
  })(), 3000, `/health ${status}`);
}

describe('figma server', () => {
  let fake;
  let srv;
  let client;
  before(async () => {
    fake = await startFakeUpstream();
    srv = await spawnServer('figma/server.js', {config: CONFIG, env: {API_KEY: KEY, FIGMA_API_ENDPOINT: fake.url}});
    await waitHealthy(srv);
    ({client} = await connectClient(srv));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await stopServer(srv);
    await fake.close();
  });
  beforeEach(() => fake.clear());

  const call = (name, args) => withTimeout(client.callTool({name, arguments: args}), 10000, name);

  function only(method, path) {
    assert.equal(fake.requests.length, 1, JSON.stringify(fake.requests));
    const req = fake.requests[0];
    assert.equal(req.method, method);
    assert.equal(req.path, path);
    assert.equal(req.headers['x-figma-token'], KEY);
    assert.equal(req.headers.authorization, undefined);
    assert.equal(req.body, '');
    return req;
  }

  test('lists the four tools', async () => {
    const {tools} = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['export_assets', 'get_comments', 'list_files', 'read_file']);
  });

  test('list_files: GET /v1/projects/{id}/files, mapped', async () => {
    fake.setRoute('GET /v1/projects/:id/files', () => ({json: {name: 'Design System', files: [
      {key: 'abcDEF123', name: 'Buttons', thumbnail_url: 'https://t/1.png', last_modified: '2025-01-02T03:04:05Z'},
    ]}}));
    const r = await call('list_files', {project_id: '12345'});
    assert.ok(!r.isError, textOf(r));
    const req = only('GET', '/v1/projects/12345/files');
    assert.deepEqual(req.query, {});
    const expected = {project: 'Design System', files: [
      {key: 'abcDEF123', name: 'Buttons', lastModified: '2025-01-02T03:04:05Z', thumbnailUrl: 'https://t/1.png'}]};
    assert.deepEqual(JSON.parse(textOf(r)), expected);
    assert.deepEqual(r.structuredContent, expected);
  });

  test('read_file: GET /v1/files/{key}?depth=, node tree outlined without geometry', async () => {
    fake.setRoute('GET /v1/files/:key', () => ({json: {
      name: 'Buttons', lastModified: '2025-01-02T03:04:05Z', version: '987', editorType: 'figma',
      thumbnailUrl: 'https://t/f.png',
      document: {id: '0:0', name: 'Document', type: 'DOCUMENT', children: [
        {id: '0:1', name: 'Page 1', type: 'CANVAS', backgroundColor: {r: 1}, children: [
          {id: '1:2', name: 'Primary', type: 'FRAME', absoluteBoundingBox: {x: 0, y: 0, width: 10, height: 10}},
        ]},
      ]},
      components: {}, styles: {},
    }}));
    const r = await call('read_file', {file_key: 'abcDEF123', depth: 3});
    assert.ok(!r.isError, textOf(r));
    const req = only('GET', '/v1/files/abcDEF123');
    assert.deepEqual(req.query, {depth: '3'});
    assert.deepEqual(JSON.parse(textOf(r)), {
      key: 'abcDEF123', name: 'Buttons', lastModified: '2025-01-02T03:04:05Z', version: '987', editorType: 'figma',
      thumbnailUrl: 'https://t/f.png',
      pages: [{id: '0:1', name: 'Page 1', type: 'CANVAS', children: [{id: '1:2', name: 'Primary', type: 'FRAME'}]}],
    });
    fake.clear();
    await call('read_file', {file_key: 'abcDEF123'});
    assert.deepEqual(fake.requests[0].query, {depth: '2'}, 'default depth');
  });

  test('export_assets: GET /v1/images/{key}?ids=&format=&scale=, one URL per id', async () => {
    fake.setRoute('GET /v1/images/:key', () => ({json: {err: null, images: {'1:2': 'https://img/1.svg', '3:4': null}}}));
    const r = await call('export_assets', {file_key: 'abcDEF123', ids: ['1:2', '3:4'], format: 'svg', scale: 2});
    assert.ok(!r.isError, textOf(r));
    const req = only('GET', '/v1/images/abcDEF123');
    assert.deepEqual(req.query, {ids: '1:2,3:4', format: 'svg', scale: '2'});
    assert.deepEqual(JSON.parse(textOf(r)), {format: 'svg', images: [{id: '1:2', url: 'https://img/1.svg'}, {id: '3:4', url: null}]});
    fake.clear();
    await call('export_assets', {file_key: 'abcDEF123', ids: ['1:2']});
    assert.deepEqual(fake.requests[0].query, {ids: '1:2', format: 'png'}, 'png by default, no scale');
  });

  test('export_assets: a render error in a 200 answer and a bad format are tool errors', async () => {
    fake.setRoute('GET /v1/images/:key', () => ({json: {err: 'Render timeout', status: 400}}));
    const r = await call('export_assets', {file_key: 'abcDEF123', ids: ['1:2']});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'figma API error 400: Render timeout');
    fake.clear();
    const bad = await call('export_assets', {file_key: 'abcDEF123', ids: ['1:2'], format: 'gif'});
    assert.equal(bad.isError, true);
    assert.equal(fake.requests.length, 0);
  });

  test('get_comments: GET /v1/files/{key}/comments, mapped', async () => {
    fake.setRoute('GET /v1/files/:key/comments', () => ({json: {comments: [
      {id: 'c1', message: 'Looks good', user: {handle: 'ann', img_url: 'x'}, created_at: '2025-01-01T00:00:00Z',
        resolved_at: null, client_meta: {node_id: '1:2', node_offset: {x: 1, y: 2}}, order_id: '1'},
      {id: 'c2', message: 'Thanks', user: {handle: 'bob'}, created_at: '2025-01-01T01:00:00Z', parent_id: 'c1',
        resolved_at: '2025-01-02T00:00:00Z'},
    ]}}));
    const r = await call('get_comments', {file_key: 'abcDEF123'});
    assert.ok(!r.isError, textOf(r));
    only('GET', '/v1/files/abcDEF123/comments');
    assert.deepEqual(JSON.parse(textOf(r)), {comments: [
      {id: 'c1', message: 'Looks good', author: 'ann', createdAt: '2025-01-01T00:00:00Z', nodeId: '1:2'},
      {id: 'c2', message: 'Thanks', author: 'bob', createdAt: '2025-01-01T01:00:00Z', resolvedAt: '2025-01-02T00:00:00Z', parentId: 'c1'},
    ]});
  });

  test('a file key that could escape the path is refused without a request', async () => {
    const r = await call('read_file', {file_key: '../v1/me'});
    assert.equal(r.isError, true);
    assert.equal(fake.requests.length, 0);
  });

  test('upstream 401 and 403 "Invalid token": one request each, auth error without the key', async () => {
    for (const status of [401, 403]) {
      fake.clear();
      fake.setRoute('GET /v1/files/:key/comments', () => ({status, json: {status, err: 'Invalid token'}}));
      const r = await call('get_comments', {file_key: 'abcDEF123'});
      assert.equal(r.isError, true);
      assert.match(textOf(r), new RegExp(`^figma authentication failed \\(${status}\\): check the API key`));
      assert.ok(!textOf(r).includes(KEY));
      assert.equal(fake.requests.length, 1);
    }
  });

  test('upstream 404: isError with status and message', async () => {
    fake.setRoute('GET /v1/files/:key', () => ({status: 404, json: {status: 404, err: 'Not found'}}));
    const r = await call('read_file', {file_key: 'nosuchfile'});
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'figma API error 404: Not found');
    assert.equal(fake.requests.length, 1);
  });

  test('upstream 429 then 200: Retry-After honoured, two requests, success', async () => {
    let n = 0;
    fake.setRoute('GET /v1/projects/:id/files', () => (++n === 1 ?
      {status: 429, headers: {'Retry-After': '1'}, json: {status: 429, err: 'Rate limit exceeded'}} :
      {json: {name: 'P', files: []}}));
    const t0 = Date.now();
    const r = await call('list_files', {project_id: '7'});
    const waited = Date.now() - t0;
    assert.ok(!r.isError, textOf(r));
    assert.deepEqual(JSON.parse(textOf(r)), {project: 'P', files: []});
    assert.equal(fake.requests.length, 2);
    assert.ok(waited >= 950, `waited only ${waited} ms`);
  });

  test('upstream timeout: isError "timeout", bounded by timeout_ms', async () => {
    fake.setRoute('GET /v1/images/:key', () => ({delayMs: 10000, json: {}}));
    const t0 = Date.now();
    const r = await call('export_assets', {file_key: 'abcDEF123', ids: ['1:2']});
    const took = Date.now() - t0;
    assert.equal(r.isError, true);
    assert.equal(textOf(r), 'figma API error 0: timeout after 300 ms');
    assert.equal(fake.requests.length, 1 + CONFIG.retry_attempts);
    assert.ok(took < 3 * 300 + 1000, `took ${took} ms`);
    await waitStatus(srv, 'healthy');
  });

  test('/health is degraded (200) while Figma is unreachable and healthy after recovery', async () => {
    await fake.pause();
    try {
      const r = await call('get_comments', {file_key: 'abcDEF123'});
      assert.equal(r.isError, true);
      assert.match(textOf(r), /^figma API error 0: unreachable/);
      const h = await health(srv);
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'degraded');
    } finally {
      await fake.resume();
    }
    await waitStatus(srv, 'healthy');
  });

  test('the key never appears in the server log', () => {
    assert.ok(srv.out.stdout.length > 0);
    assert.ok(!srv.out.stdout.includes(KEY));
    assert.ok(!srv.out.stderr.includes(KEY));
  });
});
