#!/usr/bin/env bash
# Runs the third-party client conformance suite against a real agentidp binary:
# node (openid-client, oauth4webapi, jose) and Python (Authlib, jwcrypto, PyJWT,
# Debian's packages under Debian's /usr/bin/python3). Both always run; the exit
# status is non-zero if either fails. The Python part closes with
# `python: N passed, N failed`, which scripts/test.sh adds to its totals.
#   tests/conformance/run.sh [path/to/agentidp]     (or AGENTIDP_BIN=...)
# CONFORMANCE_ALGS=ES256 narrows the signing algorithms (default: all three).
# CONFORMANCE_ONLY=node or CONFORMANCE_ONLY=python runs one half.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# shellcheck source=../../scripts/lib/agentidp-bin.sh
. "$here/../../scripts/lib/agentidp-bin.sh"
resolve_agentidp_bin conformance "${1:-}"

cd "$here"
only=${CONFORMANCE_ONLY:-}
status=0

if [ "$only" != python ]; then
  # Install only when needed: no node_modules yet, or the lock file changed since.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  node --test --test-reporter=spec ./*.test.mjs || status=1
fi

if [ "$only" != node ]; then
  echo "== conformance (Python: Authlib, jwcrypto, PyJWT)"
  # Debian's interpreter and packages, not whatever python3 is first on PATH:
  # -s leaves out the user site directory, -B writes no __pycache__ here.
  env -u PYTHONPATH -u PYTHONHOME -u PYTHONUSERBASE /usr/bin/python3 -s -B python/run_tests.py || status=1
fi

exit $status
