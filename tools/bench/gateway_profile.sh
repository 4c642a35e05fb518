#!/usr/bin/env bash
# Where the gateway spends its CPU, independent of the machine's load: the gateway benchmark's
# harness (the integration test's in-process API server with the /mcp/ route, real echo MCP
# servers; tools/bench/gateway.sh) runs under valgrind's callgrind, which counts instructions,
# not time. After a warm-up, --calls tools/call echo go through the gateway over --sessions SDK
# sessions (protocol 2025-11-25, HTTPS, a namespace token), then the process idles (up to 20 s).
# Prints its instructions per call ((calls window - idle, scaled to as long) / calls) and the functions
# that cost most in the calls window (inclusive and self, % of the window); --keep DIR keeps
# the dumps for callgrind_annotate. The client is tools/bench/gateway_profile.mjs.
# Usage: tools/bench/gateway_profile.sh [--build-dir DIR] [--calls N] [--sessions N]
#          [--keep DIR] [--top N]
#   (default build dir: build/; needs the integration_gateway target. Another checkout's
#   build, e.g. an older commit's, is profiled with this checkout's client; its benchmark test
#   must take BENCH_SCRIPT. Defaults: 1,000 calls, 1 session: several sessions slowed down
#   ~50 times make the client drop and reopen TLS connections, whose handshakes then dominate.)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
KEEP=""
TOP=25
export CALLS=1000 SESSIONS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --top) TOP=$2; shift 2 ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN="$BUILD/bin/integration_gateway"
[ -x "$BIN" ] || { echo "$BIN is missing: cmake --build $BUILD --target integration_gateway" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 2; }
[ -d mcp-servers/node_modules ] || { echo "mcp-servers/node_modules is missing: run tools/setup.sh" >&2; exit 2; }

WORK=$(mktemp -d /tmp/minimcp-gwprof.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "== gateway profile: callgrind, $CALLS tools/call over $SESSIONS sessions, $BIN =="
# The harness's processes (echo servers, the client) run natively: only the test process is
# counted.
# Callgrind slows the process some 50 times: a response that natively completes well within the
# coalescing window (20 ms) would miss it and take the streaming path, which it never does
# natively. BENCH_COALESCE_MS widens the window so the path stays the native one.
BENCH_SCRIPT="$PWD/tools/bench/gateway_profile.mjs" OUT_DIR="$WORK" BENCH_COALESCE_MS=2000 \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out.%p" --trace-children=no \
  "$BIN" --gtest_also_run_disabled_tests --gtest_filter='GatewayTest.DISABLED_Benchmark' \
  >"$WORK/out.log" 2>&1 || { cat "$WORK/out.log" >&2; exit 1; }
RESULT=$(grep '^{"calls"' "$WORK/out.log") || { cat "$WORK/out.log" >&2; exit 1; }
field() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$RESULT" "$1"; }
BUSY=$WORK/$(field busy)
IDLE=$WORK/$(field idle)
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$BUSY" "$IDLE" "$KEEP"/; fi
total() { sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$1" | head -1; }
B=$(total "$BUSY")
I=$(total "$IDLE")
BUSY_MS=$(field busyMs)
IDLE_MS=$(field idleMs)
# What the process does without calls, over as long as the calls took.
I=$(node -e 'console.log(Math.round(process.argv[1] * process.argv[2] / process.argv[3]))' "$I" "$BUSY_MS" "$IDLE_MS")
echo "calls window: $B instructions in ${BUSY_MS%.*} ms; idle, as long: $I"
echo "instructions per call: $(((B - I) / CALLS))"
top() {
  callgrind_annotate "$@" --threshold=100 "$BUSY" 2>/dev/null |
    awk -v top="$TOP" -v total="$B" '/^ *[0-9][0-9,]* / {
        n = $1; gsub(",", "", n); if (n + 0 == 0 || n + 0 >= 0.995 * total) next;
        sub(/^ *[0-9][0-9,]* +(\([^)]*\) +)?/, "");
        printf "%5.1f%%  %s\n", 100 * n / total, substr($0, 1, 160); if (++k >= top) exit }' ||
    true  # awk stops reading early
}
echo "-- inclusive, top $TOP (% of the calls window) --"
top --inclusive=yes
echo "-- self, top $TOP --"
top
