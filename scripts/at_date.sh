#!/usr/bin/env bash
# Runs a command with the system clock moved to another date (libfaketime), for every
# process it starts too (the live server, Chromium, pdfsig):
#   scripts/at_date.sh "2027-12-31 12:00:00" pytest -q tests/core
# The clock starts at the given UTC time and then runs on normally.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/at_date.sh 'YYYY-MM-DD HH:MM:SS' command…" >&2; exit 2; }
at=$1; shift
command -v faketime >/dev/null || { echo "faketime is missing: run scripts/setup.sh test" >&2; exit 1; }
# DONT_RESET: a child process continues the parent's shifted clock instead of starting
# again at the given instant.
export TZ=UTC FAKETIME_DONT_RESET=1
exec faketime -f "@$at" "$@"
