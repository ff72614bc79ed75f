#!/usr/bin/env bash
# Rewrites the lock files that both README commands install from:
#   requirements/run.txt   what running the product needs (pyproject's dependencies)
#   requirements/test.txt  plus the dev extra (test runner, browser driver, linters)
# Run it after changing dependencies in pyproject.toml, or to take newer versions
# (`scripts/lock.sh --upgrade`, or `--upgrade-package NAME`); commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh test
.venv/bin/python -m pip install -q pip-tools
opts=(-q --strip-extras --no-header --allow-unsafe --no-emit-index-url --no-emit-find-links
      --no-emit-trusted-host "$@")
.venv/bin/pip-compile "${opts[@]}" -o requirements/run.txt pyproject.toml
.venv/bin/pip-compile "${opts[@]}" --extra dev -o requirements/test.txt pyproject.toml
