#!/usr/bin/env bash
# Failover benchmark of the nodes issue: a node dies with its host → all its instances Ready on
# the other nodes, for 10 and for 30 instances (the counts are arguments), each next to what
# it is made of, measured in the same run:
#   - lease: --lease-duration (how long a silent node is still trusted)
#   - detection: kill → the node is marked Lost by the scheduler
#   - cold start: the same instances applied on a live node → all Ready (what a restore costs
#     without any failure)
# Real PostgreSQL (tools/pg-test-server.sh, durable settings), three real mcpd nodes. Every
# process started here is stopped by its pid.
# Usage: tools/bench/failover.sh [--build-dir DIR] [--lease SECONDS] [COUNT...]   (default 10 30)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=build
LEASE=3
COUNTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --lease) LEASE=$2; shift 2 ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) COUNTS+=("$1"); shift ;;
  esac
done
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10 30)
BIN="$ROOT/$BUILD/bin"
[ -x "$BIN/mcpd" ] && [ -x "$BIN/mcpctl" ] || { echo "build mcpd and mcpctl in $BUILD first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/minimcp-failover.XXXXXX)
PIDS=()
now_ms() { date +%s%3N; }

# Every process whose cwd is under DIR/instances (a node's instance processes).
instance_pids() {
  local dir=$1 p cwd
  for p in /proc/[0-9]*; do
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [[ $cwd == "$dir"/instances/* ]] && echo "${p#/proc/}"
  done
  return 0
}
kill_node() {  # DIR PID: SIGKILL mcpd and its instances, as a host crash does
  kill -9 "$2" 2>/dev/null || true
  for p in $(instance_pids "$1"); do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
  for entry in "${PIDS[@]}"; do kill_node "${entry%%:*}" "${entry##*:}"; done
  PG_TEST_DURABLE=1 tools/pg-test-server.sh stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_node() {  # NAME STORE → prints "DIR:PID URL" once the node listens
  local name=$1 store=$2 dir="$WORK/$1" port_lo
  mkdir -p "$dir"
  case "$name" in host-a) port_lo=36000 ;; host-b) port_lo=36100 ;; *) port_lo=36200 ;; esac
  "$BIN/mcpd" --listen 127.0.0.1:0 --data-dir "$dir" --store "$store" --node "$name" \
    --master-key-file "$WORK/master.key" --port-range "$port_lo-$((port_lo + 99))" \
    --capacity 100 --lease-duration "${LEASE}s" --log-level warn \
    --max-instances-per-namespace 0 >"$dir/log" 2>&1 &
  local pid=$! url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^mcpd listening on \([^ ]*\).*/\1/p' "$dir/log" | tail -n1)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$dir/log" >&2; exit 1; }
  echo "$dir:$pid $url"
}

ctl() { "$BIN/mcpctl" --kubeconfig "$1/admin.kubeconfig" "${@:2}"; }

manifest() {  # PREFIX COUNT
  for i in $(seq 1 "$2"); do
    printf 'apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: %s-%d\n  namespace: default\nspec:\n  type: echo\n  ttl: 1h\n---\n' "$1" "$i"
  done
}

# Waits until COUNT instances named PREFIX-* are Ready on nodes other than AVOID; prints ms.
await_ready() {  # DIR PREFIX COUNT AVOID START_MS
  local n
  for _ in $(seq 1 1200); do
    n=$(ctl "$1" get mi -n default -o json | node -e '
      let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
        const items = JSON.parse(s).items.filter(m => m.metadata.name.startsWith(process.argv[1] + "-"));
        console.log(items.filter(m => (m.status?.conditions ?? []).some(c => c.type === "Ready" && c.status === "True")
          && m.status.node !== process.argv[2]).length);
      });' "$2" "$4")
    [ "$n" -ge "$3" ] && { echo $(($(now_ms) - $5)); return 0; }
    sleep 0.05
  done
  echo "timeout"; return 1
}

PG_TEST_DURABLE=1 tools/pg-test-server.sh start "$WORK/pg" >/dev/null
PGURL=$(cat "$WORK/pg/url")
printf '%-10s %10s %14s %16s %20s\n' instances lease_ms detection_ms failover_ms cold_start_ms
round=0
for COUNT in "${COUNTS[@]}"; do
  round=$((round + 1))
  db="bench$round"
  # A fresh database per round, so rounds do not see each other's nodes.
  psql "$PGURL" -qc "CREATE DATABASE $db" >/dev/null
  store=$(printf '%s' "$PGURL" | sed -E "s#/[^/?]*(\?|$)#/$db\1#")

  # B alone first, so it holds every instance.
  read -r B BURL < <(start_node host-b "$store"); PIDS+=("$B")
  BDIR=${B%%:*}; BPID=${B##*:}
  manifest fo "$COUNT" | ctl "$BDIR" apply -f - >/dev/null
  await_ready "$BDIR" fo "$COUNT" none "$(now_ms)" >/dev/null
  read -r A AURL < <(start_node host-a "$store"); PIDS+=("$A")
  read -r C CURL < <(start_node host-c "$store"); PIDS+=("$C")
  ADIR=${A%%:*}
  # Cold start on the live nodes, same count: what restoring costs without a failure.
  t0=$(now_ms)
  manifest cold "$COUNT" | ctl "$ADIR" apply -f - >/dev/null
  cold=$(await_ready "$ADIR" cold "$COUNT" host-b "$t0")
  for i in $(seq 1 "$COUNT"); do ctl "$ADIR" delete mi "cold-$i" -n default --wait=false >/dev/null 2>&1 || true; done

  t0=$(now_ms)
  kill_node "$BDIR" "$BPID"
  detected=""
  for _ in $(seq 1 600); do
    phase=$(ctl "$ADIR" get node host-b -o json 2>/dev/null | grep -o '"phase": *"[A-Za-z]*"' | grep -o '[A-Za-z]*"$' | tr -d '"' || true)
    [ "$phase" = Lost ] && { detected=$(($(now_ms) - t0)); break; }
    sleep 0.02
  done
  failover=$(await_ready "$ADIR" fo "$COUNT" host-b "$t0")
  printf '%-10s %10s %14s %16s %20s\n' "$COUNT" "$((LEASE * 1000))" "${detected:-n/a}" "$failover" "$cold"
  for entry in "${PIDS[@]}"; do kill_node "${entry%%:*}" "${entry##*:}"; done
  PIDS=()
done
