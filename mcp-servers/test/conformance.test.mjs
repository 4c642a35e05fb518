// The conformance type under the instance contract: /health, the Origin and bearer checks on
// both eras, and one fixture tool called by an SDK v2 client pinned to 2026-07-28, one in
// auto mode and an SDK 1.32 client (2025-11-25). The suite itself runs in tests/e2e/conformance.
import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {Client, StreamableHTTPClientTransport} from '@modelcontextprotocol/client';
import {Client as ClientV1} from '@modelcontextprotocol/sdk/client/index.js';
import {StreamableHTTPClientTransport as TransportV1} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {spawnServer, waitHealthy, stopServer, withTimeout} from '../lib/testing.js';

const HEADERS = {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'};
const INITIALIZE = {jsonrpc: '2.0', id: 1, method: 'initialize',
  params: {protocolVersion: '2025-11-25', capabilities: {}, clientInfo: {name: 'raw', version: '0'}}};
const DISCOVER = {jsonrpc: '2.0', id: 1, method: 'server/discover', params: {_meta: {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': {name: 'raw', version: '0'},
  'io.modelcontextprotocol/clientCapabilities': {},
}}};
const ERAS = [
  ['2025-11-25', INITIALIZE, {}],
  ['2026-07-28', DISCOVER, {'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'server/discover'}],
];

describe('conformance server', () => {
  let srv;
  before(async () => {
    srv = await spawnServer('conformance/server.js');
    await waitHealthy(srv);
  });
  after(async () => {
    await stopServer(srv);
  });

  const post = (body, headers) => fetch(`${srv.url}/mcp`, {
    method: 'POST', headers: {...HEADERS, ...headers}, body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });

  test('/health answers without a token', async () => {
    const r = await fetch(`${srv.url}/health`);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'healthy');
  });

  for (const [era, body, eraHeaders] of ERAS) {
    test(`${era}: no token, a wrong token and a foreign Origin are refused, the token is let in`, async () => {
      let r = await post(body, eraHeaders);
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error.code, -32000);
      r = await post(body, {...eraHeaders, Authorization: 'Bearer wrong'});
      assert.equal(r.status, 401);
      await r.body.cancel();
      r = await post(body, {...eraHeaders, Authorization: `Bearer ${srv.token}`, Origin: 'http://evil.example.com'});
      assert.equal(r.status, 403);
      await r.body.cancel();
      r = await post(body, {...eraHeaders, Authorization: `Bearer ${srv.token}`});
      assert.equal(r.status, 200, await r.clone().text());
      const sid = r.headers.get('mcp-session-id');
      assert.equal(sid !== null, era === '2025-11-25', `session id ${sid} in era ${era}`);
      await r.body.cancel();
    });
  }

  const auth = () => ({headers: {Authorization: `Bearer ${srv.token}`}});
  for (const [label, mode, wantEra] of [
    ['SDK v2 pinned to 2026-07-28', {pin: '2026-07-28'}, '2026-07-28'],
    ['SDK v2 auto', 'auto', '2026-07-28'],
  ]) {
    test(`${label} calls a fixture tool`, async () => {
      const client = new Client({name: 'test', version: '0'}, {versionNegotiation: {mode}});
      const transport = new StreamableHTTPClientTransport(new URL(`${srv.url}/mcp`), {requestInit: auth()});
      await withTimeout(client.connect(transport), 5000, 'connect');
      try {
        assert.equal(client.getNegotiatedProtocolVersion(), wantEra);
        const r = await withTimeout(client.callTool({name: 'test_simple_text', arguments: {}}), 5000, 'call');
        assert.equal(r.content[0].text, 'This is a simple text response for testing.');
      } finally {
        await client.close();
      }
    });
  }

  test('SDK 1.32 (2025-11-25) calls a fixture tool', async () => {
    const client = new ClientV1({name: 'test', version: '0'});
    await withTimeout(client.connect(new TransportV1(new URL(`${srv.url}/mcp`), {requestInit: auth()})), 5000, 'connect');
    try {
      const r = await withTimeout(client.callTool({name: 'test_simple_text', arguments: {}}), 5000, 'call');
      assert.equal(r.content[0].text, 'This is a simple text response for testing.');
    } finally {
      await client.close();
    }
  });
});

test('conformance server: a 2025 session idle past sessionIdleTimeoutMs is closed', async () => {
  const srv = await spawnServer('conformance/server.js', {config: {sessionIdleTimeoutMs: 200}});
  try {
    await waitHealthy(srv);
    const headers = {...HEADERS, Authorization: `Bearer ${srv.token}`};
    const r = await fetch(`${srv.url}/mcp`, {method: 'POST', headers, body: JSON.stringify(INITIALIZE)});
    const sid = r.headers.get('mcp-session-id');
    await r.body.cancel();
    assert.ok(sid);
    const ping = async () => {
      const p = await fetch(`${srv.url}/mcp`, {method: 'POST', headers: {...headers, 'Mcp-Session-Id': sid},
        body: JSON.stringify({jsonrpc: '2.0', id: 2, method: 'ping'})});
      await p.body.cancel();
      return p.status;
    };
    assert.equal(await ping(), 200);
    // Untouched from here on: the reaper (every 200 ms here) closes it and logs so.
    const deadline = Date.now() + 5000;
    while (!srv.out.stdout.includes('closing idle session') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(srv.out.stdout, /closing idle session/);
    assert.equal(await ping(), 404);
  } finally {
    await stopServer(srv);
  }
});
