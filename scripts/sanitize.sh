#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer (gcc, Debug) in
# build-asan and runs the unit and contract tests (ctest) and the integration suite against
# the instrumented server binary.
#   scripts/sanitize.sh [build-dir]        (default build-asan)
# Environment: SANITIZE_INTEGRATION=0 skips the integration suite (ctest only).
#
# Every sanitizer report (memory error, leak, undefined behaviour) from any process started
# here, test binaries and servers alike, is written to <build-dir>/sanitizer-reports/ and
# fails the run, even one from a server a test had already finished with.
# Exits non-zero if a build, a test or a sanitizer fails; the last line sums it up.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-asan}
start=$(date +%s)

echo "== sanitize: configure and build ($BUILD, gcc, Debug, ASan+UBSan)"
# CXX is only read when the build dir is first configured. The sanitizer runtimes are
# linked statically: with gcc's shared libasan + libubsan, UBSan ignores log_path and its
# reports would only reach a stderr nobody reads (a server's, say).
CXX=${SANITIZE_CXX:-g++} cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_EXE_LINKER_FLAGS=-static-libasan -static-libubsan" \
  -DAGENTIDP_SANITIZE=ON -DAGENTIDP_BUILD_TESTS=ON >/dev/null || {
  echo "sanitize: configure failed"
  exit 1
}
cmake --build "$BUILD" -j"$(nproc)" || {
  echo "sanitize: build failed"
  exit 1
}
built=$(date +%s)

REPORTS=$(pwd)/$BUILD/sanitizer-reports
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
# halt_on_error: the first error ends the process (UBSan is also built with
# -fno-sanitize-recover); log_path: every report (ASan, LSan, UBSan) goes to a file
# report.<pid>, so none is lost in a test runner's captured output.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$REPORTS/report"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/report"
export LSAN_OPTIONS="log_path=$REPORTS/report"

status=0
summary=()

echo "== sanitize: unit and contract tests (ctest; SQLite, PostgreSQL and Redis)"
# The PostgreSQL and Redis tests run too, on throw-away servers (always stopped afterwards).
if bash scripts/with-services.sh bash -c "cd '$BUILD' && ctest --output-on-failure -j$(nproc)"; then
  summary+=("ctest ok")
else
  status=1
  summary+=("ctest FAILED")
fi
tested=$(date +%s)

if [ "${SANITIZE_INTEGRATION:-1}" != 0 ]; then
  echo "== sanitize: integration suite against $BUILD/agentidp"
  if AGENTIDP_BIN="$(pwd)/$BUILD/agentidp" bash tests/integration/run.sh; then
    summary+=("integration ok")
  else
    status=1
    summary+=("integration FAILED")
  fi
else
  summary+=("integration skipped (SANITIZE_INTEGRATION=0)")
fi
end=$(date +%s)

reports=("$REPORTS"/*)
if [ -e "${reports[0]}" ]; then
  status=1
  summary+=("${#reports[@]} sanitizer report(s)")
  echo "== sanitize: sanitizer reports"
  for r in "${reports[@]}"; do
    echo "--- $r"
    head -60 "$r"
  done
fi

echo "== sanitize: build $((built - start)) s, ctest $((tested - built)) s, integration $((end - tested)) s, total $((end - start)) s"
joined=$(IFS=';'; echo "${summary[*]}")
if [ "$status" -eq 0 ]; then
  echo "sanitize: passed (${joined//;/, })"
else
  echo "sanitize: FAILED (${joined//;/, })"
fi
exit $status
