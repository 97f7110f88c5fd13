#!/usr/bin/env bash
# Token-endpoint A/B of one or more agentidp binaries in one run: for each, a fresh node on
# the embedded store (bench/serve.mjs: temporary data directory, rate limits raised, one
# client), 3 s of warm-up, then `wrk -t2 -c$C -d${D}s --latency` on the token endpoint; prints
# req/s, p50/p99, the server's CPU per request (from /proc/<pid>/stat) and the machine's idle
# cores during the load. List binaries alternately (A B A B) to compare builds on a noisy box.
#
#   bench/ab_token.sh build-old/agentidp build/agentidp build-old/agentidp build/agentidp
#   ALG=RS256 C=128 D=8 bench/ab_token.sh build/agentidp
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
ALG=${ALG:-ES256} C=${C:-64} D=${D:-12}
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
SP=""
cleanup() { [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
idle() { awk '/^cpu /{print $5}' /proc/stat; }
for bin in "$@"; do
  AGENTIDP_BIN=$(realpath "$bin") node bench/serve.mjs "$ALG" > "$WORK/env" 2> "$WORK/err" &
  SP=$!
  for _ in $(seq 100); do grep -q BENCH_AUTH "$WORK/env" 2>/dev/null && break; sleep 0.2; done
  grep -q BENCH_AUTH "$WORK/env" || { cat "$WORK/err" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$WORK/env"
  wrk -t2 -c"$C" -d3s -s bench/wrk/token.lua "$URL/api/v1/token" > /dev/null
  t0=$(cut -d')' -f2 /proc/"$PID"/stat | awk '{print $12 + $13}')
  i0=$(idle)
  out=$(wrk -t2 -c"$C" -d"${D}s" --latency -s bench/wrk/token.lua "$URL/api/v1/token")
  t1=$(cut -d')' -f2 /proc/"$PID"/stat | awk '{print $12 + $13}')
  i1=$(idle)
  n=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$out" | awk -v bin="$bin" -v n="$n" -v cpu=$((t1 - t0)) -v hz="$TICK" -v d="$D" \
    -v idle=$((i1 - i0)) -v load="$(cut -d' ' -f1 /proc/loadavg)" '
    /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    END {printf "%s: %s req/s, p50 %s, p99 %s, server %.0f us CPU/request, idle %.2f cores, load %s\n",
         bin, rps, p50, p99, cpu * 1e6 / hz / n, idle / hz / d, load}'
  kill "$SP"; wait "$SP" 2>/dev/null || true; SP=""
done
