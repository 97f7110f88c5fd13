#!/usr/bin/env bash
# Runs a command next to throw-away PostgreSQL and Redis servers:
#
#   scripts/with-services.sh <command> [args...]
#   SERVICES=postgres scripts/with-services.sh ...     (only one of them; default both)
#
# PostgreSQL: initdb's a cluster in a temp dir (UTF8, trust authentication on loopback only),
# starts it with pg_ctl on a free 127.0.0.1 port with its unix socket inside the temp dir,
# waits until it accepts connections and creates the database `agentidp_test`.
# Redis: starts redis-server on a free 127.0.0.1 port with no persistence (no RDB snapshots,
# no AOF) and its working directory inside the temp dir, and waits for PING.
# Exports
#
#   AGENTIDP_TEST_PG_URL=postgres://postgres@127.0.0.1:<port>/agentidp_test
#   AGENTIDP_TEST_REDIS_URL=redis://127.0.0.1:<port>/0
#
# runs the command, then ALWAYS stops both servers and removes the temp dir (on success,
# failure and interrupt) and exits with the command's status. Nothing is left running.
#
# The PostgreSQL binaries come from $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin;
# redis-server from $REDIS_SERVER, else PATH. initdb refuses to run as root: as root the
# PostgreSQL server runs as the `postgres` system user.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi

SERVICES=${SERVICES:-postgres,redis}
want() { [[ ",$SERVICES," == *",$1,"* ]]; }

PG_BINDIR=${PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)}
if want postgres && { [ -z "$PG_BINDIR" ] || [ ! -x "$PG_BINDIR/initdb" ] || [ ! -x "$PG_BINDIR/pg_ctl" ]; }; then
  echo "with-services: PostgreSQL server binaries not found (install postgresql-15 or set PG_BINDIR)" >&2
  exit 2
fi
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
if want redis && { [ -z "$REDIS_SERVER" ] || [ ! -x "$REDIS_SERVER" ]; }; then
  echo "with-services: redis-server not found (install redis-server or set REDIS_SERVER)" >&2
  exit 2
fi

# Runs a server command as the cluster owner.
if [ "$(id -u)" -eq 0 ]; then
  PG_USER=postgres
  as_owner() { runuser -u "$PG_USER" -- "$@"; }
else
  PG_USER=$(id -un)
  as_owner() { "$@"; }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/agentidp-services-XXXXXX")
DATA=$TMP/data
SOCK=$TMP/sock
LOG=$TMP/server.log
started=0
redis_pid=

# shellcheck disable=SC2317  # trap handlers
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [ "$started" -eq 1 ]; then
    if ! as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
      # Last resort: the postmaster's pid is the first line of postmaster.pid.
      if [ -f "$DATA/postmaster.pid" ]; then
        kill -KILL "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null || true
      fi
    fi
  fi
  rm -rf "$TMP"
  exit "$status"
}
child=
# On a signal, stop the command too (it runs in the background so that the trap runs at once
# instead of after the command; background commands ignore SIGINT, hence TERM), then clean up.
# shellcheck disable=SC2317  # trap handler
on_signal() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

mkdir -p "$SOCK"
chmod 0700 "$TMP"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if want postgres; then
  [ "$(id -u)" -eq 0 ] && chown -R "$PG_USER" "$TMP"

  as_owner "$PG_BINDIR/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=trust >"$TMP/initdb.log" 2>&1 || {
    cat "$TMP/initdb.log" >&2
    echo "with-services: initdb failed" >&2
    exit 1
  }

  # Loopback only, trust only there; the socket lives in the temp dir.
  cat >"$DATA/pg_hba.conf" <<EOF
local all all               trust
host  all all 127.0.0.1/32  trust
EOF

  # A port picked as free can be taken before the server binds it: try a few.
  PORT=
  for _ in 1 2 3 4 5; do
    candidate=$(free_port)
    cat >"$DATA/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $candidate
unix_socket_directories = '$SOCK'
max_connections = 200
EOF
    [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$DATA/postgresql.auto.conf" "$DATA/pg_hba.conf"
    started=1
    if as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 start >/dev/null 2>&1; then
      PORT=$candidate
      break
    fi
    started=0
    if [ -f "$DATA/postmaster.pid" ]; then
      # pg_ctl gave up waiting but the server may still be starting: stop it before retrying.
      as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  if [ -z "$PORT" ]; then
    cat "$LOG" >&2 2>/dev/null || true
    echo "with-services: could not start PostgreSQL" >&2
    exit 1
  fi

  for _ in $(seq 1 60); do
    if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres; then break; fi
    sleep 0.5
  done
  "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres || {
    echo "with-services: PostgreSQL did not become ready" >&2
    exit 1
  }

  "$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U postgres agentidp_test

  export AGENTIDP_TEST_PG_URL="postgres://postgres@127.0.0.1:$PORT/agentidp_test"
fi

start_redis() {
  local port=$1
  mkdir -p "$TMP/redis"
  # No persistence, loopback only; the log stays in the temp dir (shown if it fails to start).
  "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --protected-mode yes --save "" \
    --appendonly no --dir "$TMP/redis" --logfile "$TMP/redis.log" --daemonize no &
  redis_pid=$!
  for _ in $(seq 1 100); do
    kill -0 "$redis_pid" 2>/dev/null || { wait "$redis_pid" 2>/dev/null || true; redis_pid=; return 1; }
    if redis_ping "$port"; then return 0; fi
    sleep 0.1
  done
  kill -KILL "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=
  return 1
}

redis_ping() {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'PING\\r\\n' >&3 && head -c 5 <&3" 2>/dev/null) || return 1
  [ "$reply" = "+PONG" ]
}

if want redis; then
  REDIS_PORT=
  # A port picked as free can be taken before the server binds it: try a few.
  for _ in 1 2 3 4 5; do
    candidate=$(free_port)
    if start_redis "$candidate"; then
      REDIS_PORT=$candidate
      break
    fi
  done
  if [ -z "$REDIS_PORT" ]; then
    cat "$TMP/redis.log" >&2 2>/dev/null || true
    echo "with-services: could not start redis-server" >&2
    exit 1
  fi
  export AGENTIDP_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

set +e
"$@" <&0 &
child=$!
wait "$child"
status=$?
child=
set -e
exit "$status"
