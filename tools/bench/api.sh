#!/usr/bin/env bash
# API benchmarks of the foundation issue, each figure next to its same-run comparison:
#   - GET one object / LIST 1,000 objects vs /healthz (the HTTP layer alone), wrk -c32; the LIST
#     as kubectl and client-go ask for it (Accept-Encoding: gzip) and uncompressed
#   - mcpctl apply of 1,000 MCPInstances from one file (wall time)
#   - mcpd RSS idle and with 10,000 stored objects
# Usage: tools/bench/api.sh [--duration SECONDS] [--objects N]   (needs build/bin from tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=10
OBJECTS=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --objects) OBJECTS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: run tools/setup.sh" >&2; exit 2; }
# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_api_mcpd minimcp-bench
TOKEN=$(awk '/token:/ {print $2; exit}' "$KCFG")
URL="https://127.0.0.1:$PORT"
API="$URL/apis/minimcp.io/v1alpha1"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$MCPD/status"; }
ctl() { "$BIN/mcpctl" --kubeconfig "$KCFG" "$@"; }

RSS_IDLE=$(rss_kb)

gen() {  # gen NS COUNT PREFIX
  for i in $(seq 1 "$2"); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: %s-%05d\n  namespace: %s\n  labels: {bench: "yes"}\nspec:\n  type: echo\n  ttl: 2h\n  config: {greeting: hi}\n' "$3" "$i" "$1"
  done
}
gen bench 1000 inst >"$WORK/1000.yaml"
START=$(date +%s.%N)
ctl apply -f "$WORK/1000.yaml" >/dev/null
END=$(date +%s.%N)
APPLY_S=$(echo "$END - $START" | bc -l)

# wrk: req/s and latency percentiles from --latency output.
run_wrk() {  # run_wrk PATH [extra wrk args]
  local path=$1
  shift
  wrk -t2 -c32 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$@" "$URL$path" 2>&1
}
field() { awk -v k="$2" '$1==k {print $2}' <<<"$1"; }
rps() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
report() {  # report LABEL OUTPUT
  printf '%-28s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$(rps "$2")" "$(field "$2" 50%)" "$(field "$2" 99%)"
}
HZ=$(run_wrk /healthz)
GET=$(run_wrk "/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances/inst-00500")
LIST=$(run_wrk "/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances" -H "Accept-Encoding: gzip")
LIST_PLAIN=$(run_wrk "/apis/minimcp.io/v1alpha1/namespaces/bench/mcpinstances")
for out in "$GET" "$LIST" "$LIST_PLAIN"; do
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk saw errors:"; echo "$out"; exit 1; fi
done

REST=$((OBJECTS - 1000))
if [ "$REST" -gt 0 ]; then
  gen bulk "$REST" obj >"$WORK/rest.yaml"
  ctl apply -f "$WORK/rest.yaml" >/dev/null
fi
RSS_FULL=$(rss_kb)
COUNT=$(curl -skf -H "Authorization: Bearer $TOKEN" "$API/mcpinstances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')

echo "== MiniMCP API benchmark ($(nproc) cores, wrk -t2 -c32 -d${DURATION}s, same run) =="
report "/healthz (HTTP layer)" "$HZ"
report "GET one MCPInstance" "$GET"
report "LIST 1,000 (gzip)" "$LIST"
report "LIST 1,000 (uncompressed)" "$LIST_PLAIN"
printf 'GET / healthz rate            %.0f%%   (target >= 50%%)\n' "$(echo "$(rps "$GET") * 100 / $(rps "$HZ")" | bc -l)"
printf 'LIST-1000 p99 (gzip)          %s   (target <= 50ms)\n' "$(field "$LIST" 99%)"
printf 'mcpctl apply 1,000 instances  %.2f s   (target <= 10 s)\n' "$APPLY_S"
printf 'mcpd RSS idle                 %d KiB\n' "$RSS_IDLE"
printf 'mcpd RSS with %d objects   %d KiB   (%d stored)\n' "$OBJECTS" "$RSS_FULL" "$COUNT"
