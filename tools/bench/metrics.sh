#!/usr/bin/env bash
# Two figures of one mcpd, same run:
# 1. /metrics scrape time with 1,000 instances, next to /healthz (the HTTP layer alone) and to
#    /metrics before any instance existed. Each with a new TLS connection per request (curl
#    runs, as a one-off scrape) and on one kept-alive connection (as Prometheus scrapes), plus
#    mcpd's own time per /metrics request from its minimcp_apiserver_request_duration_seconds.
#    The instances are suspended: the controller reconciles each one (they are counted in
#    minimcp_instances) without starting 1,000 processes.
# 2. mcpd's idle CPU with --running N instances running (processes, so per-instance CPU and
#    memory series exist), one NotificationSink delivering to a real local receiver
#    (tests/e2e/notify/receiver.mjs; its notifyBefore is longer than the instances' ttl, so
#    each instance is announced as expiring once, before the window) and /metrics scraped every
#    --scrape-every seconds, over --idle-seconds: mcpd's own user+system time from /proc, as a
#    share of one core (target <= 1%).
#    --extra FILE: more manifests applied before the idle window, so what they add to an idle
#    mcpd is in the figure.
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
start_mcpd minimcp-bench-metrics --notification-allow-loopback
RECEIVER=
# Instance processes outlive mcpd by design: delete them first, then kill by pid whatever is
# left in this run's data dir, then the usual stop.
cleanup() {
  if [ -n "$RECEIVER" ]; then kill -TERM "$RECEIVER" 2>/dev/null || true; wait "$RECEIVER" 2>/dev/null || true; fi
  "$BIN/mcpctl" --kubeconfig "$KCFG" delete mcpinstances --all -n idle --timeout 120s >/dev/null 2>&1 || true
  for d in /proc/[0-9]*; do
    case "$(readlink "$d/cwd" 2>/dev/null)" in "$WORK"/data/instances/*) kill -KILL "${d#/proc/}" 2>/dev/null || true ;; esac
  done
  kill -TERM "$MCPD" 2>/dev/null || true
  wait "$MCPD" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# The sink's receiver: a real HTTP server on loopback (mcpd is told to allow loopback sinks).
RECEIVER_OUT=$WORK/receiver.out
node tests/e2e/notify/receiver.mjs >"$RECEIVER_OUT" 2>&1 &
RECEIVER=$!
for _ in $(seq 1 100); do
  grep -q '"url"' "$RECEIVER_OUT" && break
  sleep 0.1
done
RECEIVER_URL=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$RECEIVER_OUT")
[ -n "$RECEIVER_URL" ] || { echo "the receiver did not start" >&2; cat "$RECEIVER_OUT" >&2; exit 1; }
TOKEN=$(awk '/token:/ {print $2; exit}' "$KCFG")
URL="https://127.0.0.1:$PORT"
scrape() { curl -skf -H "Authorization: Bearer $TOKEN" "$URL/metrics"; }
times_ms() {  # times_ms PATH: each request's total time in ms, a new connection each, sorted
  for _ in $(seq 1 "$SCRAPES"); do
    curl -sk -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$URL$1"
  done | awk '{printf "%.2f\n", $1 * 1000}' | sort -n
}
kept_ms() {  # kept_ms PATH: the same, all on one kept-alive connection (the first one dropped)
  local args=()
  for _ in $(seq 0 "$SCRAPES"); do args+=("$URL$1" -o /dev/null); done
  curl -sk -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "${args[@]}" |
    tail -n +2 | awk '{printf "%.2f\n", $1 * 1000}' | sort -n
}
pct() { awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i]}'; }
served() {  # mcpd's own seconds and count of GET /metrics so far: "SUM COUNT"
  scrape | awk '/^minimcp_apiserver_request_duration_seconds_(sum|count)\{/ && /resource="metrics"/ && /verb="get"/ {
    if ($1 ~ /_sum/) s = $2; else c = $2 } END {print s + 0, c + 0}'
}
own_ms() {  # own_ms "SUM0 COUNT0" "SUM1 COUNT1": mean ms per request in between
  awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); n = y[2] - x[2];
    printf "%.2f", (n > 0 ? (y[1] - x[1]) * 1000 / n : 0)}'
}
row() {  # row LABEL SORTED_TIMES
  printf '%-34s p50 %6s ms   p99 %6s ms\n' "$1" "$(pct 50 <<<"$2")" "$(pct 99 <<<"$2")"
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
EMPTY_METRICS=$(kept_ms /metrics)
EMPTY_BYTES=$(scrape | wc -c)

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

HZ=$(times_ms /healthz)
M0=$(served)
METRICS=$(times_ms /metrics)
M1=$(served)
HZ_KEPT=$(kept_ms /healthz)
M2=$(served)
METRICS_KEPT=$(kept_ms /metrics)
M3=$(served)
BYTES=$(scrape | wc -c)
SERIES=$(scrape | grep -vc '^#')
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== /metrics scrape ($(nproc) cores, load $LOAD0 .. $LOAD1, $INSTANCES instances, $SCRAPES sequential requests each, same run) =="
row "/healthz, new TLS connection" "$HZ"
row "/metrics, new TLS connection" "$METRICS"
row "/healthz, kept-alive connection" "$HZ_KEPT"
row "/metrics, kept-alive connection" "$METRICS_KEPT"
row "/metrics, 0 instances, kept-alive" "$EMPTY_METRICS"
printf '/metrics in mcpd (its request histogram): %s ms per request (new connections), %s ms (kept-alive)\n' \
  "$(own_ms "$M0" "$M1")" "$(own_ms "$M2" "$M3")"
printf '/metrics: %d bytes, %d samples (%d bytes with 0 instances); target <= 50 ms\n' \
  "$BYTES" "$SERIES" "$EMPTY_BYTES"

# --- 2. idle CPU with running instances, scraped --------------------------------------------
if [ "$RUNNING" -gt 0 ]; then
  "$BIN/mcpctl" --kubeconfig "$KCFG" delete mcpinstances --all -n bench --timeout 300s >/dev/null
  for i in $(seq 1 "$RUNNING"); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: run-%04d\n  namespace: idle\nspec:\n  type: echo\n  ttl: 2h\n' "$i"
  done >"$WORK/running.yaml"
  printf -- 'apiVersion: minimcp.io/v1alpha1\nkind: NotificationSink\nmetadata:\n  name: hooks\n  namespace: idle\nspec:\n  url: %s/hooks\n  events: [InstanceExpiring, InstanceExpired, InstanceFailed, CrashLoopBackOff, KeyRotationDue]\n  notifyBefore: 3h\n' \
    "$RECEIVER_URL" >"$WORK/sink.yaml"
  "$BIN/mcpctl" --kubeconfig "$KCFG" apply -f "$WORK/sink.yaml" >/dev/null
  "$BIN/mcpctl" --kubeconfig "$KCFG" apply --wait --timeout 600s -f "$WORK/running.yaml" >/dev/null 2>&1
  if [ -n "$EXTRA" ]; then "$BIN/mcpctl" --kubeconfig "$KCFG" apply -f "$EXTRA" >/dev/null; fi
  received() { curl -sf "$RECEIVER_URL/__requests" | grep -o '"path":"/hooks"' | wc -l; }
  # Settle: the start-up's status writes, first usage samples and the sink's deliveries are done.
  for _ in $(seq 1 120); do
    [ "$(received)" -ge "$RUNNING" ] && break
    sleep 0.5
  done
  sleep 20
  R0=$(received)
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
  LOAD2=$(cut -d' ' -f1-3 /proc/loadavg)
  R1=$(received)
  USAGE=$(scrape | grep -c '^minimcp_instance_resident_memory_bytes{' || true)
  IDLE_METRICS=$(kept_ms /metrics)
  IDLE_HZ=$(kept_ms /healthz)
  echo "== idle mcpd ($RUNNING running instances, one NotificationSink, $N scrapes every ${SCRAPE_EVERY}s${EXTRA:+, plus $EXTRA}; load $LOAD2) =="
  awk -v t="$((T1 - T0))" -v hz="$HZ_TICKS" -v a="$S0" -v b="$S1" \
    'BEGIN {printf "mcpd CPU   %.2f%% of one core over %.0f s (target <= 1%%)\n", t / hz / (b - a) * 100, b - a}'
  printf 'sink       %d deliveries to the receiver before the window (one InstanceExpiring per instance), %d during it\n' \
    "$R0" "$((R1 - R0))"
  row "/healthz, kept-alive" "$IDLE_HZ"
  row "/metrics, kept-alive" "$IDLE_METRICS"
  echo "           ($USAGE instances with usage series)"
fi
