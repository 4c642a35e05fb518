#!/usr/bin/env bash
# Warm-pool benchmark, against the real mcpd (as root: each waiting process has a uid of its own):
# apply → Ready=True seen by a watch while echo keeps spec.warmPool.size 2 (every start claims a
# waiting process), next to a bare `node mcp-servers/echo/server.js` to its first healthy
# /health, interleaved, median of --runs; target ≤ 30 ms. Each run checks that the instance's
# ClaimedFromPool event is there. The measuring is tools/bench/reconciler_bench.mjs's "pool" part.
# Usage: tools/bench/pool.sh [--build-dir DIR] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tools/bench/reconciler.sh --only pool --no-pm2 "$@"
