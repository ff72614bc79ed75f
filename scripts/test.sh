#!/usr/bin/env bash
# Set up (first time) and run every check: lint, import contracts, the whole test suite
# on SQLite, then on PostgreSQL and on SQLite at a date a year ahead side by side. Extra arguments
# go to pytest.
#   scripts/test.sh --fast   the inner loop: lint, import contracts and the tests without
#                            a browser or third-party validators, on SQLite only
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [ "${1:-}" = --fast ]; then fast=true; shift; fi
scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check .
echo "== import contracts"
lint-imports
echo "== types (mypy)"
mypy
if $fast; then
  echo "== fast tests on SQLite (no browser, no interop)"
  LABORSIGN_TEST_DATABASE_URL="" pytest -q -p no:cacheprovider -n 2 -m "not e2e and not interop" "$@"
  exit 0
fi
# Alone on the machine, this pass runs in two processes (pytest-xdist) and lists its slowest
# tests.
echo "== tests on SQLite"
LABORSIGN_TEST_DATABASE_URL="" pytest -q -p no:cacheprovider -n 2 --durations=20 "$@"

# Then the PostgreSQL pass and the shifted-date pass run side by side, each in two
# processes (pytest-xdist; every PostgreSQL worker migrates a database of its own) and into
# its own log and artefact folder, so that neither waits alone on one core for the other
# to end; the logs are printed when both are done.
pg_url=$(scripts/pg.sh)
# Nothing may depend on today's date: the second of them runs with the system clock a year
# ahead, on the last day of that month at 20:00 in Beijing (12:00 UTC), where day, month
# and (in December) year boundaries are close.
at=$(scripts/shifted_date.py)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
LABORSIGN_TEST_DATABASE_URL="$pg_url" LABORSIGN_TEST_OUTPUT="$PWD/test-output/postgresql" \
  pytest -q -p no:cacheprovider -n 2 "$@" >"$logs/pg" 2>&1 &
pg_pid=$!
LABORSIGN_TEST_DATABASE_URL="" LABORSIGN_TEST_OUTPUT="$PWD/test-output/shifted" \
  scripts/at_date.sh "$at" pytest -q -p no:cacheprovider -n 2 "$@" >"$logs/shifted" 2>&1 &
shifted_pid=$!
status=0
wait "$pg_pid" || status=1
echo "== tests on PostgreSQL"
cat "$logs/pg"
wait "$shifted_pid" || status=1
echo "== tests on SQLite at $at UTC (libfaketime)"
cat "$logs/shifted"
exit "$status"
