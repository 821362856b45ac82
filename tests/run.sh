#!/usr/bin/env bash
# The README's test command: runs the whole suite. PostgreSQL-backed tests get a throwaway
# cluster from tests/pg.sh when it can start one (always under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
python3 -m pytest "$@" || status=$?
exit $status
