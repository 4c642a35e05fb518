# shellcheck shell=bash
# Shared helpers for the tools/*.sh scripts. Sourced, never run; the caller sets ROOT first
# and runs with `set -euo pipefail`.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ ${EUID} -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# mcpd's data dir: $MINIMCP_DATA_DIR, else mcpd's own default.
data_dir() { printf '%s\n' "${MINIMCP_DATA_DIR:-${HOME}/.local/state/minimcp}"; }

# True when PID is a running process (a zombie counts as gone: it has exited, only its parent
# has not collected it yet).
is_running() {
  local pid=$1 state
  [[ ${pid} =~ ^[0-9]+$ ]] || return 1
  # Field 3 of /proc/PID/stat is the state; the comm in field 2 may contain spaces.
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/${pid}/stat" 2>/dev/null) || return 1
  [[ ${state} != Z && ${state} != X ]]
}

# True when PID is a running mcpd. The name check guards against the pid file outliving mcpd
# and its PID being reused by something else.
is_live_mcpd() {
  local pid=$1
  is_running "${pid}" || return 1
  [[ $(cat "/proc/${pid}/comm" 2>/dev/null || true) == mcpd ]]
}

# The PID recorded in the pid file, if that process is a live mcpd; empty otherwise.
recorded_mcpd_pid() {
  local pidfile pid
  pidfile="$(data_dir)/mcpd.pid"
  [[ -f ${pidfile} ]] || return 0
  pid=$(head -n1 "${pidfile}" 2>/dev/null || true)
  if is_live_mcpd "${pid}"; then
    printf '%s\n' "${pid}"
  fi
}
