# Sourced by the suite and benchmark runners. resolve_agentidp_bin NAME [PATH]
# takes the agentidp binary from PATH or $AGENTIDP_BIN, makes it absolute and exports it
# as AGENTIDP_BIN; exits 2 with a usage line when it is missing or not executable.
resolve_agentidp_bin() {
  local who=$1 bin=${2:-${AGENTIDP_BIN:-}}
  if [ -z "$bin" ]; then
    echo "usage: $0 path/to/agentidp   (or set AGENTIDP_BIN)" >&2
    exit 2
  fi
  if [ ! -x "$bin" ]; then
    echo "$who: $bin is not an executable file" >&2
    exit 2
  fi
  AGENTIDP_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  export AGENTIDP_BIN
}
