#!/usr/bin/env bash
# Density benchmark of idle instances, one mcpd, same run:
# 1. 100 running echo instances: the memory their processes hold (sum of PSS), from which
#    1,000 running instances are estimated (×10), and what the host lost (MemAvailable).
# 2. --instances N (default 1,000) declared echo instances of which --in-use M (default 50) run
#    and the rest are Idle (spec.idleTimeout; they are applied in batches and each batch is let
#    go Idle before the next, so the host never holds more than a batch of starting processes):
#    the memory of the processes that exist, mcpd's RSS, MemAvailable lost, and mcpd's idle CPU
#    over --idle-seconds as a share of one core.
# Usage: tools/bench/density.sh [--instances N] [--in-use M] [--batch B] [--idle-seconds S]
#          (needs build/bin from tools/build.sh; run as root, as the suite does)
set -euo pipefail
cd "$(dirname "$0")/../.."
INSTANCES=1000
IN_USE=50
BATCH=50
IDLE_SECONDS=60
ESTIMATE_FROM=100
while [ $# -gt 0 ]; do
  case "$1" in
    --instances) INSTANCES=$2; shift 2 ;;
    --in-use) IN_USE=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --idle-seconds) IDLE_SECONDS=$2; shift 2 ;;
    --estimate-from) ESTIMATE_FROM=$2; shift 2 ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mem_available_kb() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
BASE_KB=$(mem_available_kb)
# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_mcpd minimcp-bench-density
# Instance processes outlive mcpd by design: delete them first, then kill by pid whatever is
# left in this run's data dir, then the usual stop.
instance_pids() {
  for d in /proc/[0-9]*; do
    case "$(readlink "$d/cwd" 2>/dev/null)" in "$WORK"/data/*) echo "${d#/proc/}" ;; esac
  done
}
cleanup() {
  "$BIN/mcpctl" --kubeconfig "$KCFG" delete mcpinstances --all -A --timeout 300s >/dev/null 2>&1 || true
  for p in $(instance_pids); do kill -KILL "$p" 2>/dev/null || true; done
  kill -TERM "$MCPD" 2>/dev/null || true
  wait "$MCPD" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
MCTL=("$BIN/mcpctl" --kubeconfig "$KCFG")
TOKEN=$(awk '/token:/ {print $2; exit}' "$KCFG")
scrape() { curl -skf -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/metrics"; }
in_phase() { scrape | awk -v p="$1" '$0 ~ "^minimcp_instances\\{" && $0 ~ "phase=\"" p "\"" {n += $2} END {print n + 0}'; }
wait_phase() {  # wait_phase PHASE COUNT TIMEOUT_S
  local deadline=$((SECONDS + $3))
  until [ "$(in_phase "$1")" -ge "$2" ]; do
    [ $SECONDS -lt $deadline ] || { echo "only $(in_phase "$1") of $2 instances $1 after $3 s" >&2; exit 1; }
    sleep 0.5
  done
}
pss_kb() {  # sum of the PSS of every process of this run but mcpd
  local sum=0 p v
  for p in $(instance_pids); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
manifest() {  # manifest NS PREFIX FROM TO IDLE_TIMEOUT
  for i in $(seq "$3" "$4"); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: %s-%04d\n  namespace: %s\nspec:\n  type: echo\n  ttl: 2h\n  idleTimeout: \"%s\"\n' "$2" "$i" "$1" "$5"
  done
}

# --- 1. running instances, the estimate ------------------------------------------------------
manifest est run 1 "$ESTIMATE_FROM" 0 >"$WORK/est.yaml"
"${MCTL[@]}" apply --wait --timeout 600s -f "$WORK/est.yaml" >/dev/null
sleep 5  # let start-up allocations settle before reading memory (a reading, not a sync)
EST_PSS=$(pss_kb)
EST_LOST=$((BASE_KB - $(mem_available_kb)))
EST_MCPD=$(rss_kb "$MCPD")
"${MCTL[@]}" delete mcpinstances --all -n est --timeout 300s >/dev/null

# --- 2. declared instances, most of them Idle ------------------------------------------------
IDLE=$((INSTANCES - IN_USE))
T0=$SECONDS
for from in $(seq 1 "$BATCH" "$IDLE"); do
  to=$((from + BATCH - 1))
  [ "$to" -le "$IDLE" ] || to=$IDLE
  manifest dens idle "$from" "$to" 3s >"$WORK/batch.yaml"
  "${MCTL[@]}" apply -f "$WORK/batch.yaml" >/dev/null
  wait_phase Idle "$to" 600
done
manifest dens use 1 "$IN_USE" 0 >"$WORK/use.yaml"
"${MCTL[@]}" apply --wait --timeout 600s -f "$WORK/use.yaml" >/dev/null
DECLARE_S=$((SECONDS - T0))
sleep 20  # settle: the start-up's status writes and first usage samples are done
PROCS=$(instance_pids | wc -l)
DENS_PSS=$(pss_kb)
DENS_LOST=$((BASE_KB - $(mem_available_kb)))
ticks() { awk '{print $14 + $15}' "/proc/$MCPD/stat"; }
C0=$(ticks)
S0=$(date +%s.%N)
sleep "$IDLE_SECONDS"
C1=$(ticks)
S1=$(date +%s.%N)
DENS_MCPD=$(rss_kb "$MCPD")

mb() { awk -v k="$1" 'BEGIN {printf "%7.0f MB", k / 1024}'; }
echo "== density ($(nproc) cores, $(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), same run) =="
printf '%-52s processes %s   mcpd RSS %s   host lost %s\n' \
  "$ESTIMATE_FROM running instances" "$(mb "$EST_PSS")" "$(mb "$EST_MCPD")" "$(mb "$EST_LOST")"
printf '%-52s processes %s   (estimated: ×%d)\n' "1,000 running instances" \
  "$(mb $((EST_PSS * 1000 / ESTIMATE_FROM)))" $((1000 / ESTIMATE_FROM))
printf '%-52s processes %s   mcpd RSS %s   host lost %s\n' \
  "$INSTANCES declared, $IN_USE in use, $IDLE Idle ($PROCS processes)" "$(mb "$DENS_PSS")" \
  "$(mb "$DENS_MCPD")" "$(mb "$DENS_LOST")"
awk -v t="$((C1 - C0))" -v hz="$(getconf CLK_TCK)" -v a="$S0" -v b="$S1" \
  'BEGIN {printf "mcpd idle CPU %.2f%% of one core over %.0f s (declared in %s s)\n", t / hz / (b - a) * 100, b - a, "'"$DECLARE_S"'"}'
