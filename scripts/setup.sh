#!/usr/bin/env bash
# Installs everything LaborSign needs on a fresh Debian/Ubuntu machine; safe to re-run.
#   scripts/setup.sh          what running the product needs
#   scripts/setup.sh test     plus what the test suite needs (browser, validators, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}

# libreoffice-writer-nogui: Word (.docx) templates are converted to PDF with it (without it,
# only PDF templates are accepted).
packages="fonts-noto-cjk libreoffice-writer-nogui"
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

# Probe by running each candidate, quietly: `command -v` also finds version-manager shims
# (pyenv) that exist on PATH but fail, loudly, when their version is not selected.
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
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
# without resolving anything again; reinstall only when the lock or pyproject changed.
# pip's and the build backend's chatter (the editable-install banner) goes to a log that
# is shown only when the installation fails.
lock=requirements/run.txt
[ "$MODE" = test ] && lock=requirements/test.txt
stamp=.venv/.laborsign-$MODE-$(cat "$lock" pyproject.toml | sha256sum | cut -c1-16)
# A venv set up for the tests from the current locks has everything running needs.
test_stamp=.venv/.laborsign-test-$(cat requirements/test.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$MODE" = run ] && [ -f "$test_stamp" ]; then
  stamp=$test_stamp
fi
if [ ! -f "$stamp" ]; then
  echo "installing Python packages into .venv (first run: a minute or two)"
  log=.venv/pip-install.log
  pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
  if ! { "${pip[@]}" install --upgrade pip &&
         "${pip[@]}" install -r "$lock" &&
         "${pip[@]}" install --no-deps -e .; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    echo "installing the Python packages failed (log above, also in $log)" >&2
    exit 1
  fi
  rm -f .venv/.laborsign-"$MODE"-*
  touch "$stamp"
fi
mkdir -p var
