#!/usr/bin/env bash
# The README's test command. PostgreSQL-backed tests get a throwaway cluster (tests/pg.sh); without
# PostgreSQL they skip locally, and under CI=true a missing PostgreSQL fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/pg.sh
if [ -z "${ENGINE_TEST_POSTGRES_URL:-}" ]; then
  if pg_start; then
    trap pg_stop EXIT
  elif [ "${CI:-}" = "true" ]; then
    echo "tests: CI=true requires PostgreSQL, and it could not be started" >&2
    exit 1
  fi
fi
python3 -m pytest "$@"
