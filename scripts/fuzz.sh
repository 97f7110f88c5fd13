#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang + ASan + UBSan in build-fuzz and runs
# each one for N seconds, starting from its committed seed corpus.
#   scripts/fuzz.sh [seconds-per-target]        (default 300; `make test` uses a short budget)
# Targets run in parallel, one per core. New inputs go to a temporary copy of the corpus,
# so the repository stays clean. Any crash, sanitizer report, leak, timeout or violated
# property fails the run; the input that triggered it is kept in build-fuzz/artifacts/ and
# the command that replays it is printed.
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_JOBS (parallel targets,
# default nproc), FUZZ_TARGETS (space-separated subset, e.g. "jwt json").
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-300}
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc)}
start=$(date +%s)

if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

echo "== fuzz: configure and build ($BUILD, clang, ASan+UBSan+libFuzzer)"
# CXX is only read when the build dir is first configured; later runs reuse the cache.
# -O1 with line tables keeps asserts (no NDEBUG), stack traces readable and the build short.
# Warnings stay errors: a clang-only warning in src/ fails this build (and `make test`).
CXX=clang++ cmake -S . -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS= \
  -DAGENTIDP_SANITIZE=ON -DAGENTIDP_BUILD_TESTS=OFF -DAGENTIDP_BUILD_FUZZ=ON >/dev/null || {
  echo "fuzz: configure failed (a $BUILD configured with another compiler must be removed)"
  exit 1
}
cmake --build "$BUILD" --target fuzz_all -j"$(nproc)" >"$BUILD/fuzz-build.log" 2>&1 || {
  tail -40 "$BUILD/fuzz-build.log"
  echo "fuzz: build failed"
  exit 1
}
built=$(date +%s)
echo "   built in $((built - start)) s"

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in tests/fuzz/*_fuzzer.cpp; do
    n=$(basename "$f" _fuzzer.cpp)
    targets+=("$n")
  done
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ARTIFACTS=$BUILD/artifacts
mkdir -p "$ARTIFACTS"

# halt_on_error/abort_on_error: stop at the first report so libFuzzer saves the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

run_target() {
  local name=$1
  local bin=$BUILD/tests/fuzz/fuzz_$name
  local corpus=$WORK/corpus-$name
  mkdir -p "$corpus" "$ARTIFACTS/$name"
  if [ ! -x "$bin" ]; then
    echo "no fuzz target $bin" >"$WORK/$name.log"
    return 1
  fi
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -R "tests/fuzz/corpus/$name/." "$corpus/"; fi
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: the default, stated.
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/$name/" "$corpus" >"$WORK/$name.log" 2>&1
}

echo "== fuzz: ${#targets[@]} targets x ${SECS} s, $JOBS at a time"
declare -A pid_of=()
failed=()
finish() {
  local name=$1 rc=$2 log=$WORK/$1.log
  local runs
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  if [ "$rc" -eq 0 ]; then
    printf '   %-14s ok   %s runs\n' "$name" "${runs:-?}"
  else
    printf '   %-14s FAIL (exit %s)\n' "$name" "$rc"
    grep -E 'ERROR:|SUMMARY:|runtime error|property violated|Test unit written' "$log" | head -12 | sed 's/^/      /'
    local artifact
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
    [ -n "$artifact" ] && echo "      replay: $BUILD/tests/fuzz/fuzz_$name $artifact"
    cp "$log" "$ARTIFACTS/$name/last-run.log"
    echo "      full log: $ARTIFACTS/$name/last-run.log"
    failed+=("$name")
  fi
}
for name in "${targets[@]}"; do
  while [ "${#pid_of[@]}" -ge "$JOBS" ]; do
    wait -n -p done_pid
    rc=$?
    for n in "${!pid_of[@]}"; do
      if [ "${pid_of[$n]}" = "$done_pid" ]; then
        unset "pid_of[$n]"
        finish "$n" "$rc"
      fi
    done
  done
  run_target "$name" &
  pid_of[$name]=$!
done
for n in "${!pid_of[@]}"; do
  wait "${pid_of[$n]}"
  finish "$n" $?
done

end=$(date +%s)
echo "== fuzz: $((end - start)) s in total (build $((built - start)) s)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${SECS} s each without a finding"
