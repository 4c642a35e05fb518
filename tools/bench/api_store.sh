#!/usr/bin/env bash
# API write throughput by store, same run (issue 6): objects/s created (POST) and updated
# (merge PATCH of a label) through mcpd's HTTP API, wrk with CLIENTS concurrent connections,
# mcpd on SQLite and mcpd on PostgreSQL (a throwaway local server with durable commits, like
# SQLite's synchronous=FULL), printed side by side with the PostgreSQL/SQLite ratio.
# Usage: tools/bench/api_store.sh [--duration SECONDS] [--clients N]
#   Needs build/bin from tools/build.sh (or MINIMCP_BIN=DIR), wrk and the postgresql package.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=10
CLIENTS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: run tools/setup.sh" >&2; exit 2; }
BIN=${MINIMCP_BIN:-build/bin}
[ -x "$BIN/mcpd" ] || { echo "$BIN/mcpd is missing: run tools/build.sh" >&2; exit 2; }
WORK=$(mktemp -d /tmp/minimcp-bench-store.XXXXXX)
chmod 755 "$WORK"  # the PostgreSQL server runs as the postgres user when we are root
MCPD=""
cleanup() {
  if [ -n "$MCPD" ]; then kill -TERM "$MCPD" 2>/dev/null || true; wait "$MCPD" 2>/dev/null || true; fi
  tools/pg-test-server.sh stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE  # through the EXIT trap: nothing is left running

PG_TEST_DURABLE=1 tools/pg-test-server.sh start "$WORK/pg"
PG_URL="$(sed 's|/postgres$|/minimcp_bench|' "$WORK/pg/url")"
psql_admin() { psql -q -X "$(cat "$WORK/pg/url")" -c "$1" >/dev/null; }
command -v psql >/dev/null || { echo "psql is missing (postgresql-client)" >&2; exit 2; }
psql_admin "CREATE DATABASE minimcp_bench"

# wrk scripts. Every connection (thread-local counter plus a per-thread prefix) writes names
# nobody else writes, so creates never collide; updates cycle over OBJECTS pre-created objects.
# wrk.format() drops wrk.headers (the -H token) when given headers of its own: set them there.
# setup() names each thread (thread:set makes a global of the thread's own Lua state), so every
# connection writes names nobody else writes: creates never collide; updates cycle over the 200
# pre-created objects u-000..u-199.
cat >"$WORK/create.lua" <<'LUA'
local n = 0
function setup(thread)
  n = n + 1
  thread:set("prefix", "t" .. n)
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local body = '{"apiVersion":"minimcp.io/v1alpha1","kind":"MCPInstance","metadata":{"name":"' ..
      prefix .. "-" .. counter ..
      '","namespace":"bench"},"spec":{"type":"echo","ttl":"2h","config":{"greeting":"hi"}}}'
  return wrk.format(nil, "/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances", nil, body)
end
LUA
cat >"$WORK/update.lua" <<'LUA'
local n = 0
function setup(thread)
  n = n + 1
  thread:set("offset", n * 97)
end
local counter = 0
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/merge-patch+json"
function request()
  counter = counter + 1
  local path = string.format("/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances/u-%03d",
                             (offset + counter) % 200)
  return wrk.format(nil, path, nil, '{"metadata":{"labels":{"seq":"' .. counter .. '"}}}')
end
LUA

# run_store NAME STORE_URL → sets RES_C, RES_U (requests/s of creates and updates)
run_store() {
  local name=$1 store=$2 port kcfg token url i out_c out_u count
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/$name"
  "$BIN/mcpd" --data-dir "$WORK/$name/data" --store "$store" --listen "127.0.0.1:$port" \
    --log-level warn --disable-reconciler --max-instances-per-namespace 0 --max-ttl 0 \
    >"$WORK/$name/mcpd.log" 2>&1 &
  MCPD=$!
  kcfg="$WORK/$name/data/admin.kubeconfig"
  for _ in $(seq 1 150); do
    [ -s "$kcfg" ] && curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -s "$kcfg" ] || { echo "mcpd ($name) did not become ready" >&2; cat "$WORK/$name/mcpd.log" >&2; exit 1; }
  token=$(awk '/token:/ {print $2; exit}' "$kcfg")
  url="https://127.0.0.1:$port"
  for i in $(seq 0 199); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: u-%03d\n  namespace: bench\nspec:\n  type: echo\n  ttl: 2h\n' "$i"
  done >"$WORK/$name/u.yaml"
  "$BIN/mcpctl" --kubeconfig "$kcfg" apply -f "$WORK/$name/u.yaml" >/dev/null
  out_c=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" -s "$WORK/create.lua" -H "Authorization: Bearer $token" "$url" 2>&1)
  out_u=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" -s "$WORK/update.lua" -H "Authorization: Bearer $token" "$url" 2>&1)
  for out in "$out_c" "$out_u"; do
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "wrk saw errors ($name):" >&2; echo "$out" >&2; exit 1; fi
  done
  # Every create acknowledged is stored (wrk counts only answered requests).
  count=$(curl -skf -H "Authorization: Bearer $token" "$url/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
  echo "$name: $count objects stored ($(awk '/requests in/ {print $1}' <<<"$out_c") creates answered)" >&2
  kill -TERM "$MCPD"; wait "$MCPD" 2>/dev/null || true; MCPD=""
  RES_C=$(awk '/Requests\/sec/ {print $2}' <<<"$out_c")
  RES_U=$(awk '/Requests\/sec/ {print $2}' <<<"$out_u")
}

run_store sqlite "sqlite:$WORK/sqlite/minimcp.db"
SQ_C=$RES_C SQ_U=$RES_U
run_store postgres "$PG_URL"
PG_C=$RES_C PG_U=$RES_U

echo "== MiniMCP API write throughput by store ($(nproc) cores, wrk -t2 -c${CLIENTS} -d${DURATION}s, same run) =="
printf '%-30s %12s %12s %8s\n' "" "SQLite" "PostgreSQL" "PG/SQLite"
row() { printf '%-30s %12.0f %12.0f %7.2fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }
row "create MCPInstance (objects/s)" "$SQ_C" "$PG_C"
row "update MCPInstance (objects/s)" "$SQ_U" "$PG_U"
