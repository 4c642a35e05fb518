#!/usr/bin/env bash
# Server-side apply benchmark, both figures from the same run against one mcpd:
#   - `kubectl apply --server-side` of 1,000 MCPInstances from one file (wall time), then again
#     unchanged (every object compared, nothing written)
#   - the same with --validate=false (kubectl's own per-object cost left out)
#   - `mcpctl apply` of the same 1,000 (another namespace), then again unchanged
# Usage: tools/bench/ssa.sh [--objects N]   (needs build/bin from tools/build.sh and kubectl)
set -euo pipefail
cd "$(dirname "$0")/../.."
OBJECTS=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
KUBECTL=$(command -v kubectl) || { echo "kubectl is missing" >&2; exit 2; }
# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_api_mcpd minimcp-ssa-bench
ctl() { "$BIN/mcpctl" --kubeconfig "$KCFG" "$@"; }
kc() { "$KUBECTL" --kubeconfig "$KCFG" --cache-dir "$WORK/kube-cache" "$@"; }

gen() {  # gen NS COUNT
  for i in $(seq 1 "$2"); do
    printf -- '---\napiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: inst-%05d\n  namespace: %s\n  labels: {bench: "yes"}\nspec:\n  type: echo\n  ttl: 2h\n  config: {greeting: hi}\n  env:\n  - {name: LOG_LEVEL, value: info}\n' "$i" "$1"
  done
}
gen ssa-kubectl "$OBJECTS" >"$WORK/kubectl.yaml"
gen ssa-mcpctl "$OBJECTS" >"$WORK/mcpctl.yaml"
kc api-resources >/dev/null  # discovery cached, as a user's second command finds it

# timed CMD...: "wall user+sys" seconds of CMD (its own CPU: the client's share).
timed() {
  local TIMEFORMAT='%R %U %S' t
  t=$({ time "$@" >/dev/null 2>"$WORK/err"; } 2>&1) || { cat "$WORK/err" >&2; exit 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' <<<"$t"
}
read -r KUBECTL_S KUBECTL_CPU < <(timed kc apply --server-side --field-manager=bench -f "$WORK/kubectl.yaml")
read -r KUBECTL_AGAIN_S _ < <(timed kc apply --server-side --field-manager=bench -f "$WORK/kubectl.yaml")
# The same objects again without kubectl's per-object check that the server validates fields:
# kubectl parses the whole OpenAPI v3 document of the object's group-version again for every
# object, to find fieldValidation among PATCH's parameters. What is left is the server.
sed 's/namespace: ssa-kubectl/namespace: ssa-novalidate/' "$WORK/kubectl.yaml" >"$WORK/novalidate.yaml"
read -r NOVALIDATE_S _ < <(timed kc apply --server-side --validate=false --field-manager=bench -f "$WORK/novalidate.yaml")
read -r MCPCTL_S MCPCTL_CPU < <(timed ctl apply -f "$WORK/mcpctl.yaml")
read -r MCPCTL_AGAIN_S _ < <(timed ctl apply -f "$WORK/mcpctl.yaml")

count() { kc get mcpinstances -n "$1" -o name | wc -l; }
DOC_BYTES=$(kc get --raw /openapi/v3/apis/minimcp.io/v1alpha1 | wc -c)
MANAGED=$(kc get mcpinstance inst-00001 -n ssa-kubectl -o json --show-managed-fields |
  python3 -c 'import json,sys; print(",".join(e["manager"] for e in json.load(sys.stdin)["metadata"]["managedFields"]))')

echo "== MiniMCP server-side apply benchmark ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $OBJECTS MCPInstances, same run) =="
printf 'kubectl apply --server-side          %6.2f s   (target <= 10 s; kubectl CPU %.2f s; %d stored; managers: %s)\n' "$KUBECTL_S" "$KUBECTL_CPU" "$(count ssa-kubectl)" "$MANAGED"
printf '  the same with --validate=false     %6.2f s   (%d stored; the group document kubectl parses per object: %d bytes)\n' "$NOVALIDATE_S" "$(count ssa-novalidate)" "$DOC_BYTES"
printf 'mcpctl apply                         %6.2f s   (mcpctl CPU %.2f s; %d stored)\n' "$MCPCTL_S" "$MCPCTL_CPU" "$(count ssa-mcpctl)"
printf 'again, unchanged: kubectl --server-side %6.2f s, mcpctl %6.2f s\n' "$KUBECTL_AGAIN_S" "$MCPCTL_AGAIN_S"
