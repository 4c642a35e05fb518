#!/usr/bin/env bash
# /metrics scrape time with 1,000 instances, next to /healthz in the same run (the HTTP layer
# alone). The instances are suspended: the controller reconciles each one (they are counted in
# minimcp_instances) without starting 1,000 processes; no family has a per-instance series yet.
# Usage: tools/bench/metrics.sh [--instances N] [--scrapes N]   (needs build/bin from tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
INSTANCES=1000
SCRAPES=50
while [ $# -gt 0 ]; do
  case "$1" in
    --instances) INSTANCES=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_mcpd minimcp-bench-metrics
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
