// Light checks of every type's MCPType manifest; mcpd's YAML loader does the real validation.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {SERVERS_DIR} from '../lib/testing.js';

const types = readdirSync(SERVERS_DIR, {withFileTypes: true})
    .filter((d) => d.isDirectory() && existsSync(path.join(SERVERS_DIR, d.name, 'mcptype.yaml')))
    .map((d) => d.name);

test('every type folder has a manifest naming it and a server script inside mcp-servers', () => {
  assert.ok(types.includes('echo'), String(types));
  for (const t of types) {
    const y = readFileSync(path.join(SERVERS_DIR, t, 'mcptype.yaml'), 'utf8');
    assert.match(y, /^apiVersion: minimcp\.io\/v1alpha1$/m, t);
    assert.match(y, /^kind: MCPType$/m, t);
    assert.match(y, new RegExp(`^metadata:\\n  name: ${t}$`, 'm'), t);
    assert.match(y, /^\s+transport: (streamable-http|stdio)$/m, t);
    const args = /^\s+args: (\[.*\])$/m.exec(y);
    assert.ok(args, `${t}: spec.server.args`);
    const script = JSON.parse(args[1])[0];
    assert.ok(!path.isAbsolute(script) && !script.split('/').includes('..'), `${t}: ${script}`);
    assert.ok(existsSync(path.join(SERVERS_DIR, script)), `${t}: ${script} missing`);
    assert.match(y, /^\s+path: \/health$/m, t);
  }
});

test('shipped types let instances point nowhere: no instanceEnv, the filesystem root confined', () => {
  for (const t of types) {
    const y = readFileSync(path.join(SERVERS_DIR, t, 'mcptype.yaml'), 'utf8');
    // An upstream URL in an instance's hands reaches the host's loopback: the admin's to allow.
    assert.doesNotMatch(y, /^\s+instanceEnv:/m, t);
  }
  const fsType = readFileSync(path.join(SERVERS_DIR, 'filesystem', 'mcptype.yaml'), 'utf8');
  assert.match(fsType, /^ {2}configConstraints:\n {2}- field: root\n {4}kind: directory\n/m);
  assert.match(fsType, /--arg-from-config", "root"/);
});
