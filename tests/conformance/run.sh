#!/usr/bin/env bash
# Runs the third-party client conformance suite (openid-client, jose) against a
# real agentidp binary.
#   tests/conformance/run.sh [path/to/agentidp]     (or AGENTIDP_BIN=...)
# CONFORMANCE_ALGS=ES256 narrows the signing algorithms (default: all three).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

bin="${1:-${AGENTIDP_BIN:-}}"
if [ -z "$bin" ]; then
  echo "usage: $0 path/to/agentidp   (or set AGENTIDP_BIN)" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  echo "conformance: $bin is not an executable file" >&2
  exit 2
fi
AGENTIDP_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export AGENTIDP_BIN

cd "$here"
# Install only when needed: no node_modules yet, or the lock file changed since.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

exec node --test --test-reporter=spec ./*.test.mjs
