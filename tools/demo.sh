#!/usr/bin/env bash
# THE main-job command: builds mcpd and mcpctl, starts mcpd in the background on its embedded
# SQLite store (or reuses the one already running from this data dir), applies the example
# specs and lists them. tools/stop.sh stops that mcpd again.
#
# Environment:
#   MINIMCP_DATA_DIR       data dir (default ~/.local/state/minimcp, mcpd's own default)
#   MINIMCP_LISTEN         HOST:PORT for mcpd (default 127.0.0.1:7443)
#   MINIMCP_READY_TIMEOUT  seconds to wait for /readyz (default 60)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/lib.sh source-path=SCRIPTDIR/..
. "${ROOT}/tools/lib.sh"
cd "${ROOT}"

DATA_DIR=$(data_dir)
LISTEN=${MINIMCP_LISTEN:-127.0.0.1:7443}
READY_TIMEOUT=${MINIMCP_READY_TIMEOUT:-60}
MCPD="${ROOT}/build/bin/mcpd"
MCPCTL="${ROOT}/build/bin/mcpctl"
PIDFILE="${DATA_DIR}/mcpd.pid"
LOGFILE="${DATA_DIR}/mcpd.log"
# mcpctl reads the admin kubeconfig mcpd writes into its data dir; naming it explicitly keeps
# the demo pointed at this mcpd whatever other config the user has.
export MCPCTL_KUBECONFIG="${DATA_DIR}/admin.kubeconfig"

"${ROOT}/tools/setup.sh"
"${ROOT}/tools/build.sh" --target mcpd mcpctl

mkdir -p "${DATA_DIR}"
chmod 700 "${DATA_DIR}"

pid=$(recorded_mcpd_pid)
if [[ -n ${pid} ]]; then
  log "reusing mcpd (pid ${pid}) from ${PIDFILE}"
  if [[ $(readlink "/proc/${pid}/exe" 2>/dev/null || true) == *"(deleted)" ]]; then
    log "note: it runs an older build; tools/stop.sh && tools/demo.sh restarts it"
  fi
else
  args=(--data-dir "${DATA_DIR}" --mcp-servers-dir "${ROOT}/mcp-servers")
  if [[ -n ${MINIMCP_LISTEN:-} ]]; then
    args+=(--listen "${LISTEN}")
  fi
  # Its own session, so that neither Ctrl-C here nor closing the terminal stops it. The
  # script's background child is never a process-group leader, so setsid execs mcpd in place
  # and $! is mcpd's PID.
  setsid "${MCPD}" "${args[@]}" </dev/null >>"${LOGFILE}" 2>&1 &
  pid=$!
  echo "${pid}" >"${PIDFILE}"
  log "started mcpd (pid ${pid}), log ${LOGFILE}"
fi

# Wait for /readyz, giving up early if mcpd dies.
url="https://${LISTEN}/readyz"
deadline=$((SECONDS + READY_TIMEOUT))
until [[ $(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' "${url}" || true) == 200 ]]; do
  # Not is_live_mcpd: a child just forked may not have exec'd mcpd yet.
  if ! is_running "${pid}"; then
    tail -n 20 "${LOGFILE}" >&2 || true
    die "mcpd (pid ${pid}) exited; see ${LOGFILE}"
  fi
  if ((SECONDS >= deadline)); then
    tail -n 20 "${LOGFILE}" >&2 || true
    die "mcpd not ready at ${url} after ${READY_TIMEOUT}s; see ${LOGFILE}"
  fi
  sleep 0.5
done
[[ -f ${MCPCTL_KUBECONFIG} ]] || die "mcpd is ready but wrote no ${MCPCTL_KUBECONFIG}"
log "mcpd ready at https://${LISTEN}"

set -x
"${MCPCTL}" apply -f specs/examples/
"${MCPCTL}" get mcptypes
"${MCPCTL}" get mcpinstances -A
{ set +x; } 2>/dev/null

# ---------------------------------------------------------------------------------------------
# The controller runs the echo instance: wait until it is Ready, then make a real MCP call
# (the reference SDK Client) through mcpd's gateway with the admin token (from the environment,
# never argv).
"${MCPCTL}" wait --for=condition=Ready mcpinstance/echo -n default --timeout=60s
"${MCPCTL}" get mcpinstances -A
MCP_TOKEN=$(awk '/token:/ {print $2; exit}' "${MCPCTL_KUBECONFIG}") \
  NODE_EXTRA_CA_CERTS="${DATA_DIR}/tls/ca.crt" \
  node "${ROOT}/tools/mcp-call.mjs" "https://${LISTEN}/mcp/default/echo" echo '{"text":"hello from MiniMCP"}'

cat <<MSG

mcpd keeps running (pid ${pid}, log ${LOGFILE}). Try:
  build/bin/mcpctl describe mcpinstance echo
  kubectl --kubeconfig ${MCPCTL_KUBECONFIG} get mcpinstances -A
  open https://${LISTEN}/ui/ and paste a token (the admin's: the token: line of
    ${MCPCTL_KUBECONFIG}; the browser must trust ${DATA_DIR}/tls/ca.crt)
Stop it with tools/stop.sh.
MSG
