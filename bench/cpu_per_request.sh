#!/usr/bin/env bash
# Server CPU per request, per thread, for one or more agentidp binaries in the same run:
# for each binary a node on the embedded store with its shared state in a throw-away Redis
# (REDIS_URL set; `REDIS=0` leaves it out), one registered client (bench/serve.mjs), then
# `wrk -t2 -c64` on the token endpoint and on introspection. Reads utime+stime of every
# server thread and of redis-server from /proc before and after each load and prints
# microseconds of CPU per request: a measure that other work on the machine disturbs much
# less than req/s. Run by hand (not part of make test):
#
#   bench/cpu_per_request.sh build-old/agentidp build/agentidp     # alternate: A B A B
#   D=8 bench/cpu_per_request.sh build/agentidp                    # seconds per load
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
D=${D:-8}
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
RPID=""
SPID=""
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# "<thread name> <ticks>" summed per name, for every thread of $1.
threads() {
  for t in /proc/"$1"/task/*; do
    local f
    f=($(cut -d')' -f2 "$t/stat"))
    echo "$(cat "$t/comm") $((f[11] + f[12]))"
  done | awk '{c[$1] += $2} END {for (k in c) print k, c[k]}' | sort
}
ticks() { local f; f=($(cut -d')' -f2 /proc/"$1"/stat)); echo $((f[11] + f[12])); }

for bin in "$@"; do
  bin=$(realpath "$bin")
  env_extra=()
  if [ "${REDIS:-1}" != 0 ]; then
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
      >"$WORK/redis.log" 2>&1 &
    RPID=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    env_extra=(REDIS_URL="redis://127.0.0.1:$port/0")
  fi
  env "${env_extra[@]}" AGENTIDP_BIN="$bin" node bench/serve.mjs ES256 >"$WORK/srv.env" &
  SPID=$!
  for _ in $(seq 120); do grep -q BENCH_TOKEN "$WORK/srv.env" 2>/dev/null && break; sleep 0.5; done
  # shellcheck disable=SC1091
  . "$WORK/srv.env"
  export BENCH_AUTH BENCH_TOKEN
  for load in token introspect; do
    path=/api/v1/token
    [ "$load" = introspect ] && path=/api/v1/token/introspect
    wrk -t2 -c64 -d2s -s "bench/wrk/$load.lua" "$URL$path" >/dev/null 2>&1 || true
    threads "$PID" >"$WORK/before"
    r0=$([ -n "$RPID" ] && ticks "$RPID" || echo 0)
    out=$(wrk -t2 -c64 -d"${D}s" -s "bench/wrk/$load.lua" "$URL$path")
    threads "$PID" >"$WORK/after"
    r1=$([ -n "$RPID" ] && ticks "$RPID" || echo 0)
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    echo "== $bin $load: $n requests, $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s$(grep -i 'non-2xx' <<<"$out" | sed 's/^/, /')"
    join "$WORK/before" "$WORK/after" | awk -v n="$n" -v hz="$TICK" '
      {d = $3 - $2; total += d; if (d > 0) printf "   %-18s %7.1f us/request\n", $1, d * 1e6 / hz / n}
      END {printf "   %-18s %7.1f us/request\n", "server (all)", total * 1e6 / hz / n}'
    [ -n "$RPID" ] && awk -v d=$((r1 - r0)) -v n="$n" -v hz="$TICK" \
      'BEGIN {printf "   %-18s %7.1f us/request\n", "redis-server", d * 1e6 / hz / n}'
  done
  kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
  if [ -n "$RPID" ]; then kill "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=""; fi
done
