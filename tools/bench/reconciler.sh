#!/usr/bin/env bash
# Reconciler benchmarks of the reconciler issue, against the real mcpd, each figure next to its
# comparison from the same run:
#   - apply → Ready=True seen by a watch, vs a bare `node mcp-servers/echo/server.js` to its
#     first healthy /health (median of --runs, interleaved): mcpd's overhead, target <= 25 ms
#   - kill -9 of a server → its new process running (/proc scan), first restart: <= 50 ms
#   - expiresAt → process gone: <= 1 s
#   - --count instances applied at once → all Ready, vs a bare parallel spawn of the same
#     servers and vs `pm2 start` of them
#   - mcpd RSS with 0 and --count instances; mcpd CPU over --idle seconds idle with them: <= 1%
# The measuring is done by tools/bench/reconciler_bench.mjs; this script starts mcpd, installs
# the pinned pm2 into a cache dir, and cleans up every process (by pid) whatever happens.
# Usage: tools/bench/reconciler.sh [--build-dir DIR] [--runs N] [--count N] [--idle SECONDS]
#          [--samples N] [--only startup,restart,expiry,fleet,pool,wake] [--no-pm2]
#          [--sandbox none|bwrap]
#   (default build dir: build/, as tools/build.sh leaves it; needs mcpd and mcpctl)
#   As root, mcpd gives every instance a uid of its own (the default); --sandbox bwrap adds the
#   bubblewrap sandbox around each.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
PM2_VERSION=6.0.8
USE_PM2=1
SANDBOX=none
export RUNS=20 COUNT=100 IDLE_SECONDS=60 SAMPLES=5 ONLY=startup,restart,expiry,fleet
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --idle) IDLE_SECONDS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-pm2) USE_PM2=0; shift ;;
    --sandbox) SANDBOX=$2; shift 2 ;;
    -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN="$BUILD/bin"
for b in mcpd mcpctl; do
  [ -x "$BIN/$b" ] || { echo "$BIN/$b is missing: cmake --build $BUILD --target $b" >&2; exit 2; }
done
[ -d mcp-servers/node_modules ] || { echo "mcp-servers/node_modules is missing: run tools/setup.sh" >&2; exit 2; }

# pm2, pinned, installed once into a cache dir (not into the project).
export PM2_BIN=""
if [ "$USE_PM2" = 1 ]; then
  PM2_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/minimcp/pm2-$PM2_VERSION"
  if [ ! -x "$PM2_DIR/node_modules/.bin/pm2" ]; then
    echo "# installing pm2@$PM2_VERSION into $PM2_DIR" >&2
    npm install --prefix "$PM2_DIR" --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION" >&2 ||
      echo "# pm2 could not be installed: its column will say n/a" >&2
  fi
  [ -x "$PM2_DIR/node_modules/.bin/pm2" ] && PM2_BIN="$PM2_DIR/node_modules/.bin/pm2"
fi

WORK=$(mktemp -d /tmp/minimcp-rbench.XXXXXX)
export WORK
: >"$WORK/pids"
MCPD=""
# Kills, by pid, every process the run recorded ("PID MCP_ID") that is still that process.
kill_recorded() {
  local pid id
  while read -r pid id; do
    [ "$pid" -gt 0 ] 2>/dev/null || continue
    if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "MCP_ID=$id"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$WORK/pids"
}
cleanup() {
  if [ -n "$MCPD" ] && kill -0 "$MCPD" 2>/dev/null; then
    timeout 60 "$BIN/mcpctl" --kubeconfig "$WORK/data/admin.kubeconfig" delete mcpinstances --all \
      -n bench --wait --timeout=50s >/dev/null 2>&1 || true
    kill -TERM "$MCPD" 2>/dev/null || true
    wait "$MCPD" 2>/dev/null || true
  fi
  kill_recorded
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/mcpd" --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-range 31000-31999 \
  --sandbox "$SANDBOX" --log-level warn >"$WORK/mcpd.log" 2>&1 &
MCPD=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/^mcpd listening on \([^ ]*\) .*/\1/p' "$WORK/mcpd.log")
  [ -n "$URL" ] && break
  kill -0 "$MCPD" 2>/dev/null || break
  sleep 0.05
done
[ -n "$URL" ] || { echo "mcpd did not start:" >&2; cat "$WORK/mcpd.log" >&2; exit 1; }
export MCPD_URL=$URL MCPD_PID=$MCPD MCPD_CA="$WORK/data/tls/ca.crt"
export KUBECONFIG_FILE="$WORK/data/admin.kubeconfig" MCPCTL="$BIN/mcpctl"
# The default per-namespace limit (50 instances) is below the fleet size.
"$BIN/mcpctl" --kubeconfig "$KUBECONFIG_FILE" limits set bench --max-instances $((COUNT + 10)) >/dev/null
MCPD_TOKEN=$(awk '/token:/ {print $2; exit}' "$KUBECONFIG_FILE")
export MCPD_TOKEN

ISOLATION="mcpd not root: instances share its uid"
[ "$(id -u)" = 0 ] && ISOLATION="a uid per instance"
echo "== MiniMCP reconciler benchmark ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$ISOLATION, sandbox $SANDBOX," \
  "node $(node --version), pm2 $([ -n "$PM2_BIN" ] && echo "$PM2_VERSION" || echo n/a); same run) =="
# The wake part calls through the gateway with the SDK client: node trusts mcpd's CA.
NODE_EXTRA_CA_CERTS="$MCPD_CA" node tools/bench/reconciler_bench.mjs
