// Warm pool: a server mcpd started before it knew which instance it would serve. Such a process
// is launched with MCP_IDENTITY_FD naming an inherited socket (its only copy outside mcpd) and no
// PORT, MCP_ID, token, key or config. It loads its code, says "ready" on the socket and blocks
// reading; mcpd claims it for one instance by writing that instance's identity
// ({"cwd": dir, "env": {PORT, MCP_ID, MCP_ACCESS_TOKEN, MCP_CONFIG, the key, ...}}) and closing
// its end. The process reads to the end once, closes the socket, takes the environment as its
// whole process.env and the directory as its cwd, and from then on is that instance's server,
// as if launched with that environment. The identity never passes through argv or the
// environment block the kernel shows in /proc (only this process reads the socket, and it runs
// as the instance's own uid). An end of file with nothing read means mcpd went away or shrank the
// pool: the process exits without ever serving.

import fs from 'node:fs';

// Far above any identity (a config is bounded by the API); a peer sending more is not mcpd.
const MAX_IDENTITY_BYTES = 4 * 1024 * 1024;

let awaited = false;

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readAll(fd) {
  const chunks = [];
  let total = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EINTR') {
        sleepMs(1);
        continue;
      }
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_IDENTITY_BYTES) throw new Error('identity larger than allowed');
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  buf.fill(0);
  const all = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return all;
}

// Blocks until mcpd hands this process its instance (pool mode), then applies it; returns at
// once when the process was launched for an instance directly. Only the first call waits.
export function awaitIdentity(env = process.env) {
  if (awaited || env !== process.env || env.MCP_IDENTITY_FD === undefined) return;
  awaited = true;
  const fdText = env.MCP_IDENTITY_FD;
  delete env.MCP_IDENTITY_FD;
  const fd = /^[0-9]+$/.test(fdText) ? Number(fdText) : NaN;
  if (!(fd >= 3)) {
    process.stderr.write(`refusing to start: MCP_IDENTITY_FD must be a descriptor >= 3 (got "${fdText}")\n`);
    process.exit(2);
  }
  let identity;
  try {
    fs.writeSync(fd, 'ready\n');
    const bytes = readAll(fd);
    fs.closeSync(fd);
    if (bytes.length === 0) process.exit(0); // never claimed
    identity = JSON.parse(bytes.toString('utf8'));
    bytes.fill(0);
  } catch (e) {
    process.stderr.write(`refusing to start: cannot read the identity: ${e.message}\n`);
    process.exit(2);
  }
  if (identity === null || typeof identity !== 'object' || typeof identity.cwd !== 'string' ||
      identity.env === null || typeof identity.env !== 'object') {
    process.stderr.write('refusing to start: the identity is not {cwd, env}\n');
    process.exit(2);
  }
  for (const k of Object.keys(env)) delete env[k];
  for (const [k, v] of Object.entries(identity.env)) {
    if (typeof v === 'string') env[k] = v;
  }
  process.chdir(identity.cwd);
}
