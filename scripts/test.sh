#!/usr/bin/env bash
# Builds the test configuration and runs every suite: unit and store-contract tests (ctest),
# integration tests against the real binary, and the third-party-client conformance suite
# (node and Python clients).
# Exits non-zero if anything fails; the last line sums up all suites.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-test}
LOGDIR=$(mktemp -d)
trap 'rm -rf "$LOGDIR"' EXIT

passed=0
failed=0
status=0

echo "== configure and build ($BUILD, Debug)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null || exit 1
cmake --build "$BUILD" -j"$(nproc)" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$(pwd)/$BUILD/agentidp

# Adds the counts of ctest's closing line in log $1 (a missing line counts as a failure).
count_ctest() {
  local line total nf
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
  if [ -n "$line" ]; then
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    nf=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + total - nf)); failed=$((failed + nf))
  else
    failed=$((failed + 1)); status=1
  fi
}

# The store contract suite runs against every backend: SQLite always, PostgreSQL on a
# throw-away cluster; the Redis shared-state tests on a throw-away redis-server. Both are
# started by with-services.sh and always stopped, whatever the tests do.
echo "== unit and contract tests (ctest; SQLite, PostgreSQL and Redis)"
bash scripts/with-services.sh bash -c "cd '$BUILD' && ctest --output-on-failure -j$(nproc)" \
  2>&1 | tee "$LOGDIR/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_ctest "$LOGDIR/ctest.log"

# Runs suite script $2 and adds the counts of node's test runner summary in its output.
# With a third argument "python", the output must also hold the closing line of the
# Python part (`python: N passed, N failed`), whose counts are added too. A missing
# summary counts as a failure.
run_node_suite() {
  local name=$1 script=$2 with_python=${3:-}
  echo "== $name"
  AGENTIDP_BIN="$BIN" bash "$script" 2>&1 | tee "$LOGDIR/$name.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  local p f line
  p=$(grep -E '^(# |ℹ )pass [0-9]+' "$LOGDIR/$name.log" | tail -1 | grep -oE '[0-9]+$')
  f=$(grep -E '^(# |ℹ )fail [0-9]+' "$LOGDIR/$name.log" | tail -1 | grep -oE '[0-9]+$')
  if [ -z "$p" ]; then
    failed=$((failed + 1)); status=1
  else
    passed=$((passed + p)); failed=$((failed + ${f:-0}))
  fi
  if [ "$with_python" = python ]; then
    line=$(grep -E '^python: [0-9]+ passed, [0-9]+ failed$' "$LOGDIR/$name.log" | tail -1)
    if [ -z "$line" ]; then
      failed=$((failed + 1)); status=1
    else
      p=$(sed -E 's/^python: ([0-9]+) passed.*/\1/' <<<"$line")
      f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
      passed=$((passed + p)); failed=$((failed + f))
      [ "$f" -eq 0 ] || status=1
    fi
  fi
}

run_node_suite integration tests/integration/run.sh
run_node_suite conformance tests/conformance/run.sh python

# A short run of every libFuzzer target over its committed corpus (`make fuzz` runs longer).
if [ -f scripts/fuzz.sh ]; then
  echo "== fuzz (short)"
  if bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}" 2>&1 | tee "$LOGDIR/fuzz.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); status=1
  fi
fi

# Unit and contract tests again, built with AddressSanitizer + UndefinedBehaviorSanitizer.
if [ -f scripts/sanitize.sh ]; then
  echo "== sanitizers (ASan + UBSan)"
  SANITIZE_INTEGRATION=${SANITIZE_INTEGRATION:-0} bash scripts/sanitize.sh 2>&1 | tee "$LOGDIR/sanitize.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  count_ctest "$LOGDIR/sanitize.log"
fi

echo
echo "all suites: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
