#!/usr/bin/env bash
# The added cost of an OpenID Connect access token per request: the same authenticated request
# (GET the MCPInstances of namespace alice, empty) with an mcpd namespace token and with a JWT
# from the test identity provider (tests/e2e/oidc/idp.mjs, ES256, key set already cached),
# one connection each (wrk -c1), alternating ROUNDS times in the same run. Prints each median
# and the difference of their medians.
# Usage: tools/bench/oidc.sh [--duration SECONDS] [--rounds N]   (needs build/bin and
# tests/e2e/oidc/node_modules from tools/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=5
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: run tools/setup.sh" >&2; exit 2; }

IDP_DIR=$(mktemp -d /tmp/minimcp-bench-idp.XXXXXX)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$IDP_DIR/key.pem" -out "$IDP_DIR/cert.pem" 2>/dev/null
node tests/e2e/oidc/idp.mjs "$IDP_DIR/cert.pem" "$IDP_DIR/key.pem" >"$IDP_DIR/out" 2>"$IDP_DIR/err" &
IDP=$!
for _ in $(seq 1 100); do
  [ -s "$IDP_DIR/out" ] && break
  sleep 0.1
done
ISSUER=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).issuer' "$IDP_DIR/out") ||
  { cat "$IDP_DIR/err" >&2; kill "$IDP"; exit 1; }

# shellcheck source=tools/bench/api_mcpd.sh
. tools/bench/api_mcpd.sh
start_api_mcpd minimcp-bench-oidc --oidc-issuer "$ISSUER" --oidc-ca-file "$IDP_DIR/cert.pem" \
  --oidc-audience minimcp-api
trap 'kill -TERM "$MCPD" "$IDP" 2>/dev/null || true; wait "$MCPD" "$IDP" 2>/dev/null || true; rm -rf "$WORK" "$IDP_DIR"' EXIT
URL="https://127.0.0.1:$PORT"
REQ="$URL/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances"

MCPD_TOKEN=$("$BIN/mcpctl" --kubeconfig "$KCFG" token create --namespace alice)
NOW=$(date +%s)
JWT=$(curl -sf --cacert "$IDP_DIR/cert.pem" -X POST -H 'Content-Type: application/json' \
  -d "{\"iss\":\"$ISSUER\",\"sub\":\"alice\",\"aud\":\"minimcp-api\",\"iat\":$NOW,\"exp\":$((NOW + 3600)),\"groups\":[\"minimcp:alice\"]}" \
  "$ISSUER/test/sign")
for t in "$MCPD_TOKEN" "$JWT"; do  # both accepted; the first JWT fetches the key set
  code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$REQ")
  [ "$code" = 200 ] || { echo "a token was refused (HTTP $code)" >&2; cat "$WORK/mcpd.log" >&2; exit 1; }
done

# wrk's median (50%) in microseconds.
median_us() {  # median_us TOKEN
  wrk -t1 -c1 -d"${DURATION}s" --latency -H "Authorization: Bearer $1" "$REQ" 2>&1 |
    awk '$1=="50%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'
}
echo "GET $REQ, wrk -c1 ${DURATION}s per run, alternating"
printf '%-6s %14s %14s %10s\n' round "mcpd token" "OIDC JWT" added
for r in $(seq 1 "$ROUNDS"); do
  a=$(median_us "$MCPD_TOKEN")
  b=$(median_us "$JWT")
  printf '%-6s %11.0f us %11.0f us %7.0f us\n' "$r" "$a" "$b" "$(echo "$b - $a" | bc -l)"
done
