#!/usr/bin/env bash
# Set up (first time) and run LaborSign with the embedded defaults: SQLite under var/,
# console SMS (see /dev/sms), dev identity provider, built-in CA.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
exec .venv/bin/laborsign serve "$@"
