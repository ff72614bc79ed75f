"""scripts/setup.sh says only what a person needs: no version-manager noise from the Python
probe, no pip or build-backend chatter unless the installation fails."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYENV_SHIM = """#!/bin/sh
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
"""
BANNER = "BuildBackendWarning: Editable installation."


def _checkout(tmp_path: Path, python_body: str) -> tuple[Path, dict[str, str]]:
    """A copy of what setup.sh reads, a .venv whose python is `python_body`, and a PATH
    where python3.13 and python3.12 are pyenv shims for versions not selected."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO / "requirements", root / "requirements")
    venv_python = root / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f"#!/bin/sh\n{python_body}\n")
    venv_python.chmod(0o755)
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.13", "python3.12"):
        (shims / name).write_text(PYENV_SHIM)
        (shims / name).chmod(0o755)
    (shims / "python3.11").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    return root, env


def _run(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "setup.sh"), "run"], env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )


def test_a_quiet_set_up_says_one_line(tmp_path: Path) -> None:
    root, env = _checkout(tmp_path, f'echo "  {BANNER}" >&2\nexit 0')
    done = _run(root, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "installing Python packages into .venv (first run: a minute or two)"
    ]
    # A second run has nothing to do and says nothing.
    again = _run(root, env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_a_failed_installation_shows_its_log(tmp_path: Path) -> None:
    root, env = _checkout(tmp_path, 'echo "ERROR: No matching distribution for aiohttp" >&2\n'
                                    "exit 1")
    done = _run(root, env)
    assert done.returncode == 1
    assert "No matching distribution for aiohttp" in done.stderr
    assert "installing the Python packages failed" in done.stderr
    assert "pyenv" not in done.stderr


def test_what_a_first_run_leaves_is_ignored_by_git() -> None:
    left = ["run.log", "server.log", "nohup.out", "var/laborsign.db", "laborsign.db",
            "laborsign.db-wal", ".venv/pip-install.log"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert sorted(done.stdout.split()) == sorted(left)


def test_a_venv_set_up_for_the_tests_is_not_installed_again_to_run(tmp_path: Path) -> None:
    """The test lock holds everything the run lock does: `run.sh` after `test.sh` goes
    straight to the server instead of reinstalling (and needing the package index)."""
    root, env = _checkout(tmp_path, 'echo "pip must not run" >&2\nexit 1')
    digest = hashlib.sha256((root / "requirements" / "test.txt").read_bytes()
                            + (root / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (root / ".venv" / f".laborsign-test-{digest}").touch()
    done = _run(root, env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
