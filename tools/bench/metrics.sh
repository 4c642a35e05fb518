#!/usr/bin/env bash
# Two figures of one mcpd, same run:
# 1. /metrics scrape time with 1,000 instances, next to /healthz (the HTTP layer alone). The
#    instances are suspended: the controller reconciles each one (they are counted in
#    minimcp_instances) without starting 1,000 processes.
# 2. mcpd's idle CPU with --running N instances running (processes, so per-instance CPU and
#    memory series exist) and /metrics scraped every --scrape-every seconds, over --idle-seconds:
#    mcpd's own user+system time from /proc, as a share of one core (target <= 1%).
#    --extra FILE: manifests applied before the idle window (e.g. a NotificationSink), so what
#    they add to an idle mcpd is in the figure.
# Usage: tools/bench/metrics.sh [--instances N] [--scrapes N] [--running N] [--idle-seconds S]
#          [--scrape-every S] [--extra FILE]          (needs build/bin from tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
INSTANCES=1000
SCRAPES=50
RUNNING=100
IDLE_SECONDS=60
SCRAPE_EVERY=5
EXTRA=
while [ $# -gt 0 ]; do
  case "$1" in
    --instances) INSTANCES=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --running) RUNNING=$2; shift 2 ;;
    --idle-seconds) IDLE_SECONDS=$2; shift 2 ;;
    --scrape-every) SCRAPE_EVERY=$2; shift 2 ;;
    --extra) EXTRA=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_mcpd minimcp-bench-metrics
# Instance processes outlive mcpd by design: delete them first, then kill by pid whatever is
# left in this run's data dir, then the usual stop.
cleanup() {
  "$BIN/mcpctl" --kubeconfig "$KCFG" delete mcpinstances --all -n idle --timeout 120s >/dev/null 2>&1 || true
  for d in /proc/[0-9]*; do
    case "$(readlink "$d/cwd" 2>/dev/null)" in "$WORK"/data/instances/*) kill -KILL "${d#/proc/}" 2>/dev/null || true ;; esac
  done
  kill -TERM "$MCPD" 2>/dev/null || true
  wait "$MCPD" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
TOKEN=$(awk '/token:/ {print $2; exit}' "$KCFG")
URL="https://127.0.0.1:$PORT"
scrape() { curl -skf -H "Authorization: Bearer $TOKEN" "$URL/metrics"; }

for i in $(seq 1 "$INSTANCES"); do
  printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: inst-%05d\n  namespace: bench\nspec:\n  type: echo\n  ttl: 2h\n  suspend: true\n' "$i"
done >"$WORK/instances.yaml"
"$BIN/mcpctl" --kubeconfig "$KCFG" apply -f "$WORK/instances.yaml" >/dev/null
counted() { scrape | awk '/^minimcp_instances\{/ {n += $2} END {print n + 0}'; }
for _ in $(seq 1 600); do
  [ "$(counted)" -ge "$INSTANCES" ] && break
  sleep 0.5
done
[ "$(counted)" -ge "$INSTANCES" ] || { echo "only $(counted) instances counted" >&2; exit 1; }

times_ms() {  # times_ms PATH: one scrape's total time per line, in ms, sorted
  for _ in $(seq 1 "$SCRAPES"); do
    curl -sk -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$URL$1"
  done | awk '{printf "%.2f\n", $1 * 1000}' | sort -n
}
pct() { awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i]}'; }
HZ=$(times_ms /healthz)
METRICS=$(times_ms /metrics)
BYTES=$(scrape | wc -c)
SERIES=$(scrape | grep -vc '^#')

echo "== /metrics scrape ($(nproc) cores, $INSTANCES instances, $SCRAPES sequential scrapes each, same run) =="
printf '/healthz   p50 %6s ms   p99 %6s ms\n' "$(pct 50 <<<"$HZ")" "$(pct 99 <<<"$HZ")"
printf '/metrics   p50 %6s ms   p99 %6s ms   (%d bytes, %d samples; target <= 50 ms)\n' \
  "$(pct 50 <<<"$METRICS")" "$(pct 99 <<<"$METRICS")" "$BYTES" "$SERIES"

# --- 2. idle CPU with running instances, scraped --------------------------------------------
if [ "$RUNNING" -gt 0 ]; then
  "$BIN/mcpctl" --kubeconfig "$KCFG" delete mcpinstances --all -n bench --timeout 300s >/dev/null
  for i in $(seq 1 "$RUNNING"); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: run-%04d\n  namespace: idle\nspec:\n  type: echo\n  ttl: 2h\n' "$i"
  done >"$WORK/running.yaml"
  "$BIN/mcpctl" --kubeconfig "$KCFG" apply --wait --timeout 600s -f "$WORK/running.yaml" >/dev/null 2>&1
  [ -n "$EXTRA" ] && "$BIN/mcpctl" --kubeconfig "$KCFG" apply -f "$EXTRA" >/dev/null
  # Settle: the start-up's status writes and first usage samples are done.
  sleep 20
  ticks() { awk '{print $14 + $15}' "/proc/$MCPD/stat"; }
  HZ_TICKS=$(getconf CLK_TCK)
  T0=$(ticks)
  S0=$(date +%s.%N)
  N=0
  while :; do
    NOW=$(date +%s.%N)
    awk -v a="$NOW" -v b="$S0" -v w="$IDLE_SECONDS" 'BEGIN {exit !(a - b < w)}' || break
    scrape >/dev/null
    N=$((N + 1))
    sleep "$SCRAPE_EVERY"
  done
  T1=$(ticks)
  S1=$(date +%s.%N)
  USAGE=$(scrape | grep -c '^minimcp_instance_resident_memory_bytes{' || true)
  IDLE_METRICS=$(times_ms /metrics)
  IDLE_HZ=$(times_ms /healthz)
  echo "== idle mcpd ($RUNNING running instances, $N scrapes every ${SCRAPE_EVERY}s${EXTRA:+, plus $EXTRA}) =="
  awk -v t="$((T1 - T0))" -v hz="$HZ_TICKS" -v a="$S0" -v b="$S1" \
    'BEGIN {printf "mcpd CPU   %.2f%% of one core over %.0f s (target <= 1%%)\n", t / hz / (b - a) * 100, b - a}'
  printf '/healthz   p50 %6s ms   p99 %6s ms\n' "$(pct 50 <<<"$IDLE_HZ")" "$(pct 99 <<<"$IDLE_HZ")"
  printf '/metrics   p50 %6s ms   p99 %6s ms   (%d instances with usage series)\n' \
    "$(pct 50 <<<"$IDLE_METRICS")" "$(pct 99 <<<"$IDLE_METRICS")" "$USAGE"
fi
