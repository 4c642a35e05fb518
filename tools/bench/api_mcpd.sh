# Sourced by the benchmarks: start_mcpd starts an mcpd on a free port, in a fresh work dir
# removed on exit, and waits for its admin kubeconfig and /readyz; start_api_mcpd does the same
# without the reconciler (the API alone).
# Both set WORK, PORT, MCPD (its pid) and KCFG. Usage: start_mcpd WORK_DIR_PREFIX [MCPD_ARGS...]
start_api_mcpd() { start_mcpd "$1" --disable-reconciler "${@:2}"; }

start_mcpd() {
  BIN=build/bin
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN/mcpd" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --log-level warn --max-instances-per-namespace 0 --max-ttl 0 "${@:2}" >"$WORK/mcpd.log" 2>&1 &
  MCPD=$!
  trap 'kill -TERM "$MCPD" 2>/dev/null || true; wait "$MCPD" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  KCFG="$WORK/data/admin.kubeconfig"
  for _ in $(seq 1 100); do
    [ -s "$KCFG" ] && curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -s "$KCFG" ] || { echo "mcpd did not become ready" >&2; cat "$WORK/mcpd.log" >&2; exit 1; }
}
