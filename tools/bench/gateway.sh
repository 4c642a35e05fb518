#!/usr/bin/env bash
# Gateway benchmark of issue 12, gateway and direct figures from the same run, per protocol era
# (2025-11-25 with sessions, SDK 1.32 client; 2026-07-28 sessionless, SDK v2 client pinned):
#   - tools/call echo latency, N sequential calls through /mcp/alice/... (HTTPS, namespace
#     token) vs directly to the instance (median, p99, added median; target <= 0.5 ms)
#   - throughput with 8 concurrent MCP clients in alternating rounds, gateway vs direct
#     (target >= 90%), with the CPU per call of the client, the gateway and the MCP server
#   - the proxy's own cost on a kept-alive connection (a plain JSON answer)
# The clients are the reference SDKs (tools/bench/gateway.mjs). The harness is the gateway
# integration test's environment (an in-process API server with the gateway route and real
# MCP server processes), run as its disabled Benchmark test, so no reconciler is involved.
# Usage: tools/bench/gateway.sh [--build-dir DIR] [--era both|2025-11-25|2026-07-28]
#          [--calls N] [--sessions N] [--seconds S] [--rounds R]
#   (default build dir: build/, as tools/build.sh leaves it; needs the integration_gateway target)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --era) export BENCH_ERA=$2; shift 2 ;;
    --calls) export BENCH_CALLS=$2; shift 2 ;;
    --sessions) export BENCH_SESSIONS=$2; shift 2 ;;
    --seconds) export BENCH_SECONDS=$2; shift 2 ;;
    --rounds) export BENCH_ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case "${BENCH_ERA:-both}" in
  both|2025-11-25|2026-07-28) ;;
  *) echo "--era: both, 2025-11-25 or 2026-07-28" >&2; exit 2 ;;
esac
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
echo "(load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
