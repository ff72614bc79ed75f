#!/usr/bin/env bash
# Set up (first time) and run every check: lint, import contracts, the whole test suite
# on SQLite, on PostgreSQL, and on SQLite again at a date a year ahead. Extra arguments
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
if $fast; then
  echo "== fast tests on SQLite (no browser, no interop)"
  LABORSIGN_TEST_DATABASE_URL="" pytest -q -p no:cacheprovider -m "not e2e and not interop" "$@"
  exit 0
fi
echo "== tests on SQLite"
LABORSIGN_TEST_DATABASE_URL="" pytest -q -p no:cacheprovider "$@"
echo "== tests on PostgreSQL"
pg_url=$(scripts/pg.sh)
LABORSIGN_TEST_DATABASE_URL="$pg_url" pytest -q -p no:cacheprovider "$@"
# Nothing may depend on today's date: run once more with the system clock a year ahead,
# on the last day of that month at 20:00 in Beijing (12:00 UTC), where day, month and
# (in December) year boundaries are close.
at=$(scripts/shifted_date.py)
echo "== tests on SQLite at $at UTC (libfaketime)"
LABORSIGN_TEST_DATABASE_URL="" scripts/at_date.sh "$at" pytest -q -p no:cacheprovider "$@"
