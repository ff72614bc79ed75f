"""Regenerate storage/migrations/versions/0001_initial.py from the models.

Only while nothing has been released: once a database exists in production, schema
changes get their own migration (`alembic revision --autogenerate`), never this.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.migrate import MIGRATIONS_DIR, alembic_config  # noqa: E402


def main() -> None:
    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/regen.db"
        cfg = alembic_config(url)
        command.revision(cfg, message="initial", autogenerate=True, rev_id="0001")
    created = next(versions.glob("0001_*.py"))
    created.rename(versions / "0001_initial.py")
    print(f"wrote {versions / '0001_initial.py'}")


if __name__ == "__main__":
    main()
