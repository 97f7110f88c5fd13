#!/usr/bin/env bash
# Runs a command next to a throw-away PostgreSQL server only (AGENTIDP_TEST_PG_URL):
# scripts/with-services.sh with SERVICES=postgres. See there.
SERVICES=postgres exec bash "$(dirname "$0")/with-services.sh" "$@"
