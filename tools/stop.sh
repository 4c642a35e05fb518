#!/usr/bin/env bash
# Stops the mcpd that tools/demo.sh started (the PID in DATA_DIR/mcpd.pid): SIGTERM, then
# waits up to MINIMCP_STOP_TIMEOUT seconds (default 30). mcpd leaves instance processes
# running on SIGTERM; the next start adopts them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/lib.sh source-path=SCRIPTDIR/..
. "${ROOT}/tools/lib.sh"

PIDFILE="$(data_dir)/mcpd.pid"
TIMEOUT=${MINIMCP_STOP_TIMEOUT:-30}

pid=$(recorded_mcpd_pid)
if [[ -z ${pid} ]]; then
  if [[ -f ${PIDFILE} ]]; then
    log "no mcpd running from ${PIDFILE} (stale pid file removed)"
    rm -f "${PIDFILE}"
  else
    log "no mcpd running (no ${PIDFILE})"
  fi
  exit 0
fi

kill -TERM "${pid}"
deadline=$((SECONDS + TIMEOUT))
while is_live_mcpd "${pid}"; do
  if ((SECONDS >= deadline)); then
    die "mcpd (pid ${pid}) still running ${TIMEOUT}s after SIGTERM; kill -KILL ${pid} if it hangs"
  fi
  sleep 0.2
done
rm -f "${PIDFILE}"
log "stopped mcpd (pid ${pid})"
