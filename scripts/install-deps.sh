#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need
# (the python3-* ones are the conformance suite's second client implementation,
# run with /usr/bin/python3).
# Idempotent: packages already present are skipped, and apt is only asked when
# something is missing. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl libsqlite3-dev sqlite3 libpq-dev libhiredis-dev
  libspdlog-dev libfmt-dev libcli11-dev libzip-dev libjemalloc-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang-format clang-tidy
  clang libclang-rt-14-dev sslscan
  postgresql-15 redis-server
  wrk procps jq
  python3 python3-authlib python3-jwcrypto python3-jwt python3-cryptography python3-requests
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js may come from another packaging of the same Debian package (which
# ships npm inside it); only ask Debian for it when no node/npm is on PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
