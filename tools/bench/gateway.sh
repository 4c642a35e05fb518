#!/usr/bin/env bash
# Gateway benchmark of issue 12, gateway and direct figures from the same run, per protocol era
# (2025-11-25 with sessions, SDK 1.32 client; 2026-07-28 sessionless, SDK v2 client pinned):
#   - tools/call echo latency, N sequential calls through /mcp/alice/... (HTTPS, namespace
#     token) vs directly to the instance (median, p99, added median; target <= 0.5 ms)
#   - throughput with 8 concurrent MCP clients in alternating rounds, gateway vs direct
#     (target >= 90%), with the CPU per call of the client, the gateway and the MCP server,
#     mcpd's CPU seconds per 1,000 calls and the calls each path gets per CPU second; the whole
#     run is in a CPU cgroup of its own when the host allows (see below)
#   - the proxy's own cost on a kept-alive connection (a plain JSON answer)
# Each figure also has nginx's beside it, in the same rounds, when nginx is installed: a TLS
# reverse proxy in front of the same instance (2 workers, kept-alive upstream connections, no
# buffering), what a mature proxy gets from the same machine (apt-get install nginx-light).
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
    -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
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
# Every process of the run (clients, gateway, MCP servers) in one CPU cgroup of its own: on a
# shared machine the scheduler then shares CPU between the benchmark as a whole and the rest,
# so a path made of more processes (client + gateway + server vs client + server) gets no more
# CPU than the other. Weight: two busy processes' worth (what the direct path alone would get).
# The reference proxy beside the gateway (nginx, same rounds), when it is installed.
NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
[ -z "$NGINX" ] || export BENCH_NGINX=$NGINX
CG=""
if [ -w /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.shares ]; then
  CG=/sys/fs/cgroup/cpu/minimcp-bench-gateway-$$
  mkdir "$CG" 2>/dev/null && echo 2048 >"$CG/cpu.shares" || CG=""
elif [ -w /sys/fs/cgroup ] && grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
  CG=/sys/fs/cgroup/minimcp-bench-gateway-$$
  mkdir "$CG" 2>/dev/null && echo 200 >"$CG/cpu.weight" || CG=""
fi
# The cgroup is removed once its processes are gone (they are when the test binary returns).
trap '[ -z "$CG" ] || rmdir "$CG" 2>/dev/null || true' EXIT
in_cgroup() {
  if [ -n "$CG" ]; then
    sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$@"
  else
    "$@"
  fi
}
echo "== MiniMCP gateway benchmark ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), same run) =="
if [ -n "$CG" ]; then
  echo "(in CPU cgroup $CG)"
else
  echo "(no CPU cgroup: each process of either path competes with the rest of the machine alone)"
fi
[ -n "$NGINX" ] || echo "(nginx is not installed: apt-get install nginx-light adds it as a reference proxy)"
OUT=$(in_cgroup "$BIN" --gtest_also_run_disabled_tests --gtest_filter='GatewayTest.DISABLED_Benchmark' 2>&1) || {
  echo "$OUT" >&2
  exit 1
}
# Only the benchmark's own lines (not gtest's or the server's log).
grep -vE '^\[|^Running main|^Note: ' <<<"$OUT"
echo "(load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
