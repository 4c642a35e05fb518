#!/usr/bin/env bash
# Wake-on-request benchmark, against the real mcpd (as root, so that the warm-pool rows claim
# waiting processes): the first tool call (an SDK client through the gateway: connect + call →
# result) on an instance that went Idle (spec.idleTimeout 1s), next to the same call on the
# running instance and to a bare `node mcp-servers/echo/server.js` → first healthy /health,
# interleaved, median of --runs; without a warm pool (target: wake cost ≤ bare + 25 ms) and with
# echo's warmPool.size 1 (target ≤ 50 ms). The measuring is tools/bench/reconciler_bench.mjs's
# "wake" part.
# Usage: tools/bench/wake.sh [--build-dir DIR] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tools/bench/reconciler.sh --only wake --no-pm2 "$@"
