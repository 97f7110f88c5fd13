#!/usr/bin/env bash
# Runs the integration suite against a real agentidp binary.
#   tests/integration/run.sh [path/to/agentidp]     (or AGENTIDP_BIN=...)
# Each test file starts its own server(s) on port 0 in fresh temporary directories.
# Node's built-in test runner only: no npm install needed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# shellcheck source=../../scripts/lib/agentidp-bin.sh
. "$here/../../scripts/lib/agentidp-bin.sh"
resolve_agentidp_bin integration "${1:-}"

cd "$here"
# The longest file (jwt_refusal waits ~60 s for a token to expire) goes first so the
# others run beside it.
files=(jwt_refusal.test.mjs)
for f in ./*.test.mjs; do
  f="${f#./}"
  [ "$f" = jwt_refusal.test.mjs ] || files+=("$f")
done
exec node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 "${files[@]}"
