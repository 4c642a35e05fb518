#!/usr/bin/env bash
# Gateway benchmark of the tenancy issue, gateway and direct figures from the same run:
#   - tools/call echo latency, 1,000 sequential calls through /mcp/alice/inbox (HTTPS, namespace
#     token) vs directly to the instance (median, p99, added median; target <= 0.5 ms)
#   - the proxy's own cost on a kept-alive connection (a plain JSON answer)
#   - throughput with 8 concurrent MCP sessions, gateway vs direct (target >= 90%)
# The client is the reference SDK (tools/bench/gateway.mjs). The harness is the gateway
# integration test's environment (an in-process API server with the gateway route and a real
# echo server process), run as its disabled Benchmark test, so no reconciler is involved.
# Usage: tools/bench/gateway.sh [--build-dir DIR] [--calls N] [--sessions N] [--seconds S]
#   (default build dir: build/, as tools/build.sh leaves it; needs the integration_gateway target)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --calls) export BENCH_CALLS=$2; shift 2 ;;
    --sessions) export BENCH_SESSIONS=$2; shift 2 ;;
    --seconds) export BENCH_SECONDS=$2; shift 2 ;;
    -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN="$BUILD/bin/integration_gateway"
[ -x "$BIN" ] || { echo "$BIN is missing: cmake --build $BUILD --target integration_gateway" >&2; exit 2; }
[ -d mcp-servers/node_modules ] || { echo "mcp-servers/node_modules is missing: run tools/setup.sh" >&2; exit 2; }
echo "== MiniMCP gateway benchmark ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), same run) =="
OUT=$("$BIN" --gtest_also_run_disabled_tests --gtest_filter='GatewayTest.DISABLED_Benchmark' 2>&1) || {
  echo "$OUT" >&2
  exit 1
}
# Only the benchmark's own lines (not gtest's or the server's log).
grep -vE '^\[|^Running main|^Note: ' <<<"$OUT"
