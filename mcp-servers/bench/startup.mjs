// Startup bench: time from spawning `node <server>` to its first 200 on /health.
// The baseline the reconciler's spawn-to-Ready numbers are compared against.
//   node bench/startup.mjs [--runs 20] [--server echo/server.js] [--json]
// Polls every 2 ms (each poll bounded by a 500 ms timeout); a run gives up after 15 s.

import http from 'node:http';
import {parseArgs} from 'node:util';
import {freePort, spawnServer, stopServer} from '../lib/testing.js';

const {values: opts} = parseArgs({options: {
  runs: {type: 'string', default: '20'},
  server: {type: 'string', default: 'echo/server.js'},
  json: {type: 'boolean', default: false},
}});
const runs = Number(opts.runs);
if (!(Number.isInteger(runs) && runs > 0 && runs <= 1000)) {
  console.error('--runs must be an integer in 1..1000');
  process.exit(2);
}

function healthOnce(port) {
  return new Promise((resolve) => {
    const req = http.get({host: '127.0.0.1', port, path: '/health', timeout: 500, agent: false}, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function oneRun() {
  const port = await freePort();
  const t0 = process.hrtime.bigint();
  const srv = await spawnServer(opts.server, {port});
  let exited = false;
  srv.exited.then(() => { exited = true; });
  try {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && !exited) {
      if (await healthOnce(port)) return Number(process.hrtime.bigint() - t0) / 1e6;
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`no healthy /health (exited: ${exited}) ${srv.out.stderr}`);
  } finally {
    await stopServer(srv);
  }
}

const samples = [];
for (let i = 0; i < runs; i++) samples.push(await oneRun());
const sorted = [...samples].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const result = {
  server: opts.server,
  runs,
  medianMs: +pct(50).toFixed(1),
  p90Ms: +pct(90).toFixed(1),
  minMs: +sorted[0].toFixed(1),
  maxMs: +sorted[sorted.length - 1].toFixed(1),
  node: process.version,
};
if (opts.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`spawn -> first healthy /health (${result.server}, ${runs} runs, node ${result.node}): ` +
      `median ${result.medianMs} ms, p90 ${result.p90Ms} ms, min ${result.minMs} ms, max ${result.maxMs} ms`);
}
