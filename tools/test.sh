#!/usr/bin/env bash
# THE test command: set-up, the normal build with every ctest label, the sanitizer build with
# the unit and integration labels, and the Node tests of mcp-servers/. Keeps going after a
# failure so one run shows everything, exits non-zero if anything failed, and ends with
# "N passed, N failed".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/lib.sh source-path=SCRIPTDIR/..
. "${ROOT}/tools/lib.sh"
cd "${ROOT}"

passed=0
failed=0
problems=()
logs=$(mktemp -d)
trap 'rm -rf "${logs}"' EXIT

step() { printf '\n==== %s ====\n' "$*"; }

# A step that produces no test results (set-up, build) counts as one failure when it fails:
# the tests behind it could not run.
gate() {
  local name=$1
  shift
  step "${name}"
  if "$@"; then
    return 0
  fi
  failed=$((failed + 1))
  problems+=("${name}")
  return 1
}

# Runs ctest, showing its output, and adds its counts from the summary line
# "NN% tests passed, F tests failed out of T". No summary line with a non-zero exit (a crash
# of ctest itself) counts as one failure.
run_ctest() {
  local name=$1 out=$2 rc=0 line total fails
  shift 2
  step "${name}"
  ctest "$@" 2>&1 | tee "${out}" || rc=$?
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "${out}" | tail -n1 || true)
  if [[ -n ${line} ]]; then
    fails=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"${line}")
    total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"${line}")
    passed=$((passed + total - fails))
    failed=$((failed + fails))
    ((fails == 0 && rc == 0)) || problems+=("${name}")
  elif grep -q 'No tests were found' "${out}"; then
    log "${name}: no tests found"
  elif ((rc != 0)); then
    failed=$((failed + 1))
    problems+=("${name}")
  fi
}

# A test that fails is run once more and counts as failed only if it fails again; its first
# failure stays in the log (--output-on-failure), so a flaky test is seen, not hidden.
repeat=(--repeat until-pass:2)

if gate "set-up" "${ROOT}/tools/setup.sh"; then
  if gate "build" "${ROOT}/tools/build.sh"; then
    run_ctest "ctest build/ (all labels)" "${logs}/ctest.txt" \
      --test-dir "${ROOT}/build" --output-on-failure -j2 "${repeat[@]}"
  fi

  if gate "sanitizer build" "${ROOT}/tools/build.sh" --sanitize; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest "ctest build-asan/ (unit|integration)" "${logs}/ctest-asan.txt" \
      --test-dir "${ROOT}/build-asan" -L "unit|integration" --output-on-failure -j2 "${repeat[@]}"
  fi

  if [[ -d ${ROOT}/mcp-servers/test ]]; then
    step "node --test (mcp-servers/)"
    rc=0
    # spec for people on stdout, TAP into a file for the counts.
    (cd "${ROOT}/mcp-servers" && node --test \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="${logs}/node.tap") || rc=$?
    count() { sed -nE "s/^# $1 ([0-9]+)$/\\1/p" "${logs}/node.tap" | tail -n1; }
    np=$(count pass)
    nf=$(count fail)
    nc=$(count cancelled)
    passed=$((passed + ${np:-0}))
    failed=$((failed + ${nf:-0} + ${nc:-0}))
    if [[ -z ${np} && ${rc} -ne 0 ]]; then
      failed=$((failed + 1))
    fi
    if ((rc != 0 || ${nf:-0} + ${nc:-0} > 0)); then
      problems+=("node --test")
    fi
  fi
fi

echo
if ((${#problems[@]})); then
  printf 'FAILED: %s\n' "${problems[@]}"
fi
echo "${passed} passed, ${failed} failed"
((failed == 0 && ${#problems[@]} == 0))
