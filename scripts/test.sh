#!/usr/bin/env bash
# Builds the test configuration and runs every suite: unit and store-contract tests (ctest),
# integration tests against the real binary, and the third-party-client conformance suite.
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

echo "== unit and contract tests (ctest)"
(cd "$BUILD" && ctest --output-on-failure -j"$(nproc)") | tee "$LOGDIR/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$LOGDIR/ctest.log" | tail -1)
if [ -n "$line" ]; then
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  nf=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - nf)); failed=$((failed + nf))
else
  failed=$((failed + 1)); status=1
fi

run_node_suite() {
  local name=$1 script=$2
  echo "== $name"
  AGENTIDP_BIN="$BIN" bash "$script" 2>&1 | tee "$LOGDIR/$name.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  local p f
  p=$(grep -E '^(# |ℹ )pass [0-9]+' "$LOGDIR/$name.log" | tail -1 | grep -oE '[0-9]+$')
  f=$(grep -E '^(# |ℹ )fail [0-9]+' "$LOGDIR/$name.log" | tail -1 | grep -oE '[0-9]+$')
  if [ -z "$p" ]; then failed=$((failed + 1)); status=1; return; fi
  passed=$((passed + p)); failed=$((failed + ${f:-0}))
}

run_node_suite integration tests/integration/run.sh
run_node_suite conformance tests/conformance/run.sh

echo
echo "all suites: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
