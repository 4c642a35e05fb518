import {test} from 'node:test';
import assert from 'node:assert/strict';
import {bearerMatches, hostAllowed, originAllowed, readEnv, ConfigError, createLogger} from '../lib/index.js';

test('hostAllowed accepts loopback names with any port, nothing else', () => {
  for (const h of ['127.0.0.1:8080', '127.0.0.1', 'localhost:1', 'LOCALHOST', '[::1]:443', undefined]) {
    assert.equal(hostAllowed(h), true, String(h));
  }
  for (const h of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', '127.0.0.2:80', '',
    'localhost:80:80', '[::2]:1', ['127.0.0.1']]) {
    assert.equal(hostAllowed(h), false, String(h));
  }
});

test('bearerMatches accepts only the exact token', () => {
  assert.equal(bearerMatches('Bearer abc123456', 'abc123456'), true);
  assert.equal(bearerMatches('bearer abc123456', 'abc123456'), true);
  assert.equal(bearerMatches('Bearer abc12345', 'abc123456'), false);
  assert.equal(bearerMatches('Bearer abc1234567', 'abc123456'), false);
  assert.equal(bearerMatches('Basic abc123456', 'abc123456'), false);
  assert.equal(bearerMatches('Bearer', 'abc123456'), false);
  assert.equal(bearerMatches(undefined, 'abc123456'), false);
  assert.equal(bearerMatches('Bearer abc123456', ''), false);
  assert.equal(bearerMatches('Bearer abc123456 extra', 'abc123456'), false);
});

test('originAllowed: absent and loopback origins pass, others need allowedOrigins', () => {
  assert.equal(originAllowed(undefined), true);
  for (const o of ['http://127.0.0.1', 'http://127.0.0.1:7443', 'https://localhost:1', 'http://[::1]:80', 'http://LOCALHOST']) {
    assert.equal(originAllowed(o), true, o);
  }
  for (const o of ['http://evil.com', 'null', '', 'file://', 'http://127.0.0.1.evil.com', 'http://localhost.evil.com',
    'http://127.0.0.1/path', 'ftp://127.0.0.1', 'http://user@127.0.0.1', 'http://127.0.0.2']) {
    assert.equal(originAllowed(o), false, o);
  }
  assert.equal(originAllowed('https://app.example.com', ['https://app.example.com']), true);
  assert.equal(originAllowed('https://app.example.com', ['https://app.example.com/']), true);
  assert.equal(originAllowed('https://app.example.com:8443', ['https://app.example.com']), false);
  assert.equal(originAllowed('http://app.example.com', ['https://app.example.com']), false);
});

test('readEnv parses the launch environment', () => {
  const s = readEnv({PORT: '20001', MCP_ACCESS_TOKEN: 't', MCP_ID: 'uid-1', MCP_CONFIG: '{"a":1}', LOG_LEVEL: 'DEBUG'});
  assert.deepEqual(s, {port: 20001, mcpId: 'uid-1', accessToken: 't', config: {a: 1}, logLevel: 'debug', apiKey: undefined,
    api: {url: undefined, ca: undefined, instance: undefined}});
  const a = readEnv({PORT: '1', MCP_ACCESS_TOKEN: 't', MCP_API_URL: 'https://127.0.0.1:7443', MCP_API_CA: 'PEM',
    MCP_INSTANCE: 'alice/inbox'});
  assert.deepEqual(a.api, {url: 'https://127.0.0.1:7443', ca: 'PEM', instance: 'alice/inbox'});
  const k = readEnv({PORT: '1', MCP_ACCESS_TOKEN: 't', API_KEY: 'k'}, {authEnv: 'API_KEY'});
  assert.equal(k.apiKey, 'k');
  assert.deepEqual(k.config, {});
  assert.equal(k.logLevel, 'info');
});

test('readEnv reports every problem at once', () => {
  assert.throws(() => readEnv({MCP_CONFIG: '{bad'}, {authEnv: 'API_KEY'}), (e) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.problems.length, 4);
    assert.match(e.message, /PORT is not set/);
    assert.match(e.message, /MCP_ACCESS_TOKEN is not set/);
    assert.match(e.message, /MCP_CONFIG is not valid JSON/);
    assert.match(e.message, /API_KEY is not set/);
    return true;
  });
  assert.throws(() => readEnv({PORT: '70000', MCP_ACCESS_TOKEN: 't'}), /PORT must be an integer/);
  assert.throws(() => readEnv({PORT: '12x', MCP_ACCESS_TOKEN: 't'}), /PORT must be an integer/);
  assert.throws(() => readEnv({PORT: '1', MCP_ACCESS_TOKEN: 't', MCP_CONFIG: '[1]'}), /must be a JSON object/);
  assert.throws(() => readEnv({PORT: '1', MCP_ACCESS_TOKEN: 't', MCP_CONFIG: '{"allowedOrigins":"x"}'}),
      /allowedOrigins/);
});

test('logger writes JSON lines, filters by level and masks secrets', () => {
  const lines = [];
  const log = createLogger({level: 'info', base: {mcpId: 'm'}, stream: {write: (s) => lines.push(s)}});
  log.addSecret('super-secret-token');
  log.debug('hidden');
  log.info('hello', {note: 'token=super-secret-token', err: new Error('boom')});
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n'));
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.level, 'info');
  assert.equal(rec.msg, 'hello');
  assert.equal(rec.mcpId, 'm');
  assert.equal(rec.note, 'token=***');
  assert.equal(rec.err.message, 'boom');
  assert.ok(!lines[0].includes('super-secret-token'));
});
