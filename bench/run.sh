#!/usr/bin/env bash
# Load benchmark, run by hand (`make bench`), never part of the tests.
#   bench/run.sh [path/to/agentidp]       (or AGENTIDP_BIN=...)
# Builds nothing: pass a built binary. Tunables (DURATION, ALGS, SEED_AGENTS,
# PEER_WORKERS, SKIP_PEER, ...) are listed at the top of bench/run.mjs.
# Writes bench/results/latest.md and latest.json (plus a copy of each named
# after the start time) and prints the report.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

bin="${1:-${AGENTIDP_BIN:-}}"
if [ -n "$bin" ]; then
  # shellcheck source=../scripts/lib/agentidp-bin.sh
  . "$here/../scripts/lib/agentidp-bin.sh"
  resolve_agentidp_bin bench "$bin"
elif [ "${SKIP_AGENTIDP:-}" != "1" ]; then
  echo "usage: $0 path/to/agentidp   (or AGENTIDP_BIN=...; SKIP_AGENTIDP=1 measures only the peers)" >&2
  exit 2
fi

for tool in wrk openssl node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench: $tool is required (scripts/install-deps.sh installs wrk)" >&2
    exit 2
  fi
done

# npm ci only when node_modules is missing or older than the lock file.
npm_ci_if_needed() {
  local dir="$1"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
}
if [ "${SKIP_PEER:-}" != "1" ]; then
  npm_ci_if_needed "$here/peers/oidc-provider"
fi

exec node "$here/run.mjs"
