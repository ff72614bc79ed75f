#!/usr/bin/env bash
# Installs everything LaborSign needs on a fresh Debian/Ubuntu machine; safe to re-run.
#   scripts/setup.sh          what running the product needs
#   scripts/setup.sh test     plus what the test suite needs (browser, validators, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}

packages="fonts-noto-cjk"
if [ "$MODE" = test ]; then
  packages="$packages chromium poppler-utils qpdf libnss3-tools softhsm2 postgresql openssl faketime"
fi

missing=""
for pkg in $packages; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing system packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  else
    echo "warning: please install:$missing (no apt-get here)" >&2
  fi
fi

# A version manager's shim is found by `command -v` even where it cannot run that
# version, so each candidate is run (quietly) to see that it works.
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$candidate; break
  fi
done
[ -n "$PY" ] || { echo "Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    command -v apt-get >/dev/null && ${SUDO:-} apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv .venv
  fi
fi

# Exact versions from the lock file (scripts/lock.sh writes it), then the project itself
# without resolving anything again. Reinstall only when the lock or pyproject changed.
# pip's output is kept out of sight unless it fails.
pip_quietly() {
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip --disable-pip-version-check -q "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    rm -f "$log"
    echo "pip install $* failed" >&2
    exit 1
  fi
  rm -f "$log"
}
lock=requirements/run.txt
[ "$MODE" = test ] && lock=requirements/test.txt
stamp=.venv/.laborsign-$MODE-$(cat "$lock" pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing Python packages from $lock"
  pip_quietly install --upgrade pip
  pip_quietly install -r "$lock"
  pip_quietly install --no-deps -e .
  rm -f .venv/.laborsign-"$MODE"-*
  touch "$stamp"
fi
mkdir -p var
