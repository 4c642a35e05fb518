#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, living entirely in DIR.
#
#   pg-test-server.sh start DIR     initdb + start on a free loopback port; writes DIR/url
#   pg-test-server.sh restart DIR   fast restart on the same port (tests of reconnection)
#   pg-test-server.sh stop DIR      fast stop, then removes DIR
#   pg-test-server.sh status DIR    exit 0 when the server in DIR is running
#
# Idempotent: start on a running server and stop on a missing one succeed. Installs nothing
# (tools/setup.sh installs the `postgresql` package). Trust authentication on 127.0.0.1 and a
# socket in DIR/sock: only for tests, never for data anyone cares about. When run as root the
# server runs as the `postgres` user (PostgreSQL refuses to run as root), so DIR is given to it.
# Tests run with fsync off; PG_TEST_DURABLE=1 keeps PostgreSQL's durable defaults (benchmarks).
#
# DIR/url is always in DIR. The server's own files (data/, sock/, log) live in DIR too, unless
# the postgres user cannot reach DIR or DIR is too long for a Unix socket path (~107 bytes):
# then they go to a short directory under /tmp, named in DIR/home and removed by stop.
set -euo pipefail

die() {
  echo "pg-test-server: $*" >&2
  exit 1
}

usage() { die "usage: $0 start|restart|stop|status DIR"; }

(($# == 2)) || usage
cmd=$1
dir=$2
[[ ${dir} == /* ]] || dir="$(pwd)/${dir}"

find_bin() {
  if [[ -n ${PG_BIN:-} ]]; then
    echo "${PG_BIN}"
    return
  fi
  local d
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n1 || true)
  if [[ -z ${d} ]] && command -v pg_ctl >/dev/null 2>&1; then
    d=$(dirname "$(command -v pg_ctl)")
  fi
  [[ -n ${d} && -x ${d}/initdb && -x ${d}/pg_ctl ]] ||
    die "PostgreSQL server binaries not found (install the 'postgresql' package: tools/setup.sh)"
  echo "${d}"
}

# Runs a command as the server's owner.
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Where the server's files are (see above).
home_of() {
  if [[ -f ${dir}/home ]]; then
    cat "${dir}/home"
  else
    echo "${dir}"
  fi
}

is_running() {
  local home
  home=$(home_of)
  [[ -f ${home}/data/postmaster.pid ]] &&
    as_owner "${bin}/pg_ctl" -D "${home}/data" status >/dev/null 2>&1
}

port_in_use() {
  ss -Htln "sport = :$1" 2>/dev/null | grep -q . || (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Never delete a directory this script did not make: it must be missing, empty, or hold what
# start leaves there (data/PG_VERSION, initdb.log, home, url).
check_removable() {
  local d=$1
  [[ ! -e ${d} ]] && return 0
  [[ -d ${d} ]] || die "${d} exists and is not a directory"
  if [[ -z "$(ls -A "${d}")" || -f ${d}/data/PG_VERSION || -f ${d}/initdb.log || -f ${d}/home ||
    -f ${d}/url ]]; then
    return 0
  fi
  die "${d} holds files this script did not create; refusing to remove it"
}

wait_ready() {
  local port=$1 home=$2
  "${bin}/pg_isready" -q -h 127.0.0.1 -p "${port}" -t 20 ||
    die "server in ${dir} did not become ready on port ${port}; log: ${home}/log"
}

start() {
  if is_running; then
    [[ -s ${dir}/url ]] || die "server in ${dir} runs but ${dir}/url is missing"
    return 0
  fi
  if ((EUID == 0)); then
    getent passwd postgres >/dev/null || die "user 'postgres' missing (install 'postgresql')"
  fi
  remove_all
  mkdir -p "${dir}"
  local home=${dir}
  if ((EUID == 0)); then
    chown postgres: "${dir}"
    if ! runuser -u postgres -- test -w "${dir}" || ((${#dir} > 80)); then
      home=$(mktemp -d /tmp/minimcp-pg-XXXXXX)
      chown postgres: "${home}"
      echo "${home}" >"${dir}/home"
    fi
  elif ((${#dir} > 80)); then
    home=$(mktemp -d /tmp/minimcp-pg-XXXXXX)
    echo "${home}" >"${dir}/home"
  fi
  as_owner mkdir -p "${home}/sock"
  as_owner "${bin}/initdb" -D "${home}/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"${dir}/initdb.log" 2>&1 || die "initdb failed; see ${dir}/initdb.log"

  local port tries durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [[ ${PG_TEST_DURABLE:-0} == 1 ]] && durability=""
  for tries in 1 2 3 4 5 6 7 8; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "${port}" && continue
    if as_owner "${bin}/pg_ctl" -D "${home}/data" -l "${home}/log" -w -t 30 \
      -o "-k ${home}/sock -c listen_addresses=127.0.0.1 -p ${port} ${durability} \
          -c max_connections=200" \
      start >/dev/null 2>"${dir}/pg_ctl.err"; then
      wait_ready "${port}" "${home}"
      echo "postgresql://postgres@127.0.0.1:${port}/postgres" >"${dir}/url"
      chmod 644 "${dir}/url"
      return 0
    fi
    # Most likely the port was taken between the check and the bind: try another.
    if grep -q "could not bind\|Address already in use" "${home}/log" 2>/dev/null; then
      as_owner truncate -s 0 "${home}/log"
      continue
    fi
    cat "${dir}/pg_ctl.err" >&2
    die "pg_ctl start failed (try ${tries}); log: ${home}/log"
  done
  die "no free port found for PostgreSQL"
}

restart() {
  local home port
  home=$(home_of)
  [[ -d ${home}/data ]] || die "no server in ${dir} (run start first)"
  # pg_ctl restart reuses the options of the last start (data/postmaster.opts).
  as_owner "${bin}/pg_ctl" -D "${home}/data" -l "${home}/log" -w -t 30 -m fast restart \
    >/dev/null || die "pg_ctl restart failed; log: ${home}/log"
  port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "${dir}/url")
  wait_ready "${port}" "${home}"
}

# Removes DIR and, when the server lived elsewhere, its home.
remove_all() {
  local home
  home=$(home_of)
  if [[ ${home} != "${dir}" ]]; then
    check_removable "${home}"
    rm -rf "${home}"
  fi
  check_removable "${dir}"
  rm -rf "${dir}"
}

stop() {
  local home
  home=$(home_of)
  if is_running; then
    as_owner "${bin}/pg_ctl" -D "${home}/data" -w -t 30 -m fast stop >/dev/null ||
      die "pg_ctl stop failed; log: ${home}/log"
  fi
  remove_all
}

bin=$(find_bin)
case ${cmd} in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  status) is_running ;;
  *) usage ;;
esac
