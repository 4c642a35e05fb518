#!/usr/bin/env bash
# Configures and builds every target with -j2.
#   tools/build.sh              → build/       (RelWithDebInfo; build/bin/mcpd, build/bin/mcpctl)
#   tools/build.sh --sanitize   → build-asan/  (Debug, AddressSanitizer + UBSan)
# Extra arguments after the options go to `cmake --build` (e.g. --target mcpd).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/lib.sh source-path=SCRIPTDIR/..
. "${ROOT}/tools/lib.sh"

dir="${ROOT}/build"
config=()
while (($#)); do
  case $1 in
    --sanitize)
      dir="${ROOT}/build-asan"
      config=(-DMINIMCP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
      shift
      ;;
    -h | --help)
      sed -n '2,5s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    --)
      shift
      break
      ;;
    *) break ;;
  esac
done

# ccache keys on paths relative to the checkout, so every clone of the repository on this
# machine (CI clones a fresh one per run) shares one cache.
export CCACHE_BASEDIR="${ROOT}" CCACHE_NOHASHDIR=1

# Configure every time: it is quick, and it picks up new test areas (directories are globbed
# at configure time only).
cmake -S "${ROOT}" -B "${dir}" "${config[@]}" >/dev/null ||
  die "cmake configure failed (rerun: cmake -S ${ROOT} -B ${dir} ${config[*]})"
cmake --build "${dir}" -j2 "$@"
