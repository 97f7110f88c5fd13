#!/usr/bin/env bash
# Runs the integration suite against a real agentidp binary.
#   tests/integration/run.sh [path/to/agentidp]     (or AGENTIDP_BIN=...)
# Each test file starts its own server(s) on port 0 in fresh temporary directories.
# Node's built-in test runner only: no npm install needed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

bin="${1:-${AGENTIDP_BIN:-}}"
if [ -z "$bin" ]; then
  echo "usage: $0 path/to/agentidp   (or set AGENTIDP_BIN)" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  echo "integration: $bin is not an executable file" >&2
  exit 2
fi
AGENTIDP_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export AGENTIDP_BIN

cd "$here"
# The longest file (jwt_refusal waits ~60 s for a token to expire) goes first so the
# others run beside it.
files=(jwt_refusal.test.mjs)
for f in ./*.test.mjs; do
  f="${f#./}"
  [ "$f" = jwt_refusal.test.mjs ] || files+=("$f")
done
exec node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 "${files[@]}"
