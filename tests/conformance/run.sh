#!/usr/bin/env bash
# Runs the third-party client conformance suite (openid-client, jose) against a
# real agentidp binary.
#   tests/conformance/run.sh [path/to/agentidp]     (or AGENTIDP_BIN=...)
# CONFORMANCE_ALGS=ES256 narrows the signing algorithms (default: all three).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# shellcheck source=../../scripts/lib/agentidp-bin.sh
. "$here/../../scripts/lib/agentidp-bin.sh"
resolve_agentidp_bin conformance "${1:-}"

cd "$here"
# Install only when needed: no node_modules yet, or the lock file changed since.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

exec node --test --test-reporter=spec ./*.test.mjs
