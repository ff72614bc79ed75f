"""`laborsign serve` with parts of the code as they were before the "Signing under load" work.

The baseline of bench/signing_server.py, so that before and after run side by side on the
same machine in one run. BENCH_BASELINE names the parts to put back (comma separated):

- health: /healthz as at commit 7ce4610 (two connections, and the migration scripts
  compiled again on every call, on the event loop)
- tsa: pyHanko's own HTTP timestamp client, built afresh for every signature (a second,
  throw-away TSA request per signature, and a CA bundle loaded for every request)
- gc: no gc.freeze() at start-up (full collections rescan every module-level object)

The pool processes import this module too (multiprocessing's spawn runs it as their main
module), so the timestamp client is put back where the signing actually runs. The other
half of the old behaviour, pool processes at the server's priority, is plain
configuration (LABORSIGN_CPU_POOL_NICE=0), set by the benchmark.

    BENCH_BASELINE=health,tsa,gc .venv/bin/python bench/baseline_server.py serve --no-migrate
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.context import Deps  # noqa: E402
from core.health import Health  # noqa: E402
from core.signing import pdf  # noqa: E402
from core.signing.timestamping import HttpTimeStamperSpec  # noqa: E402
from handlers import cli  # noqa: E402
from handlers import health as health_routes  # noqa: E402
from storage.migrate import current_revision, head_revision  # noqa: E402

PARTS = {p.strip() for p in os.environ.get("BENCH_BASELINE", "").split(",") if p.strip()}


async def check_health_before(deps: Deps) -> Health:
    """core/health.py at commit 7ce4610."""
    try:
        async with deps.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = True
        revision = await current_revision(deps.db.engine)
    except Exception:
        database, revision = False, None
    head = head_revision()
    current = database and revision == head
    return Health(database and current, database, current, revision, head)


def timestamper_before(spec: Any, validation: Any) -> Any:
    """core/signing/pdf.py at commit 7ce4610: `timestamper.build()` with pyHanko's client."""
    if isinstance(spec, HttpTimeStamperSpec):
        from pyhanko.sign.timestamps import HTTPTimeStamper

        return HTTPTimeStamper(spec.url, timeout=spec.timeout)
    return spec.build()


if "gc" in PARTS:
    gc.freeze = lambda: None  # handlers/cli.py freezes the start-up heap
if "health" in PARTS:
    health_routes.check_health = check_health_before  # type: ignore[assignment]
if "tsa" in PARTS:
    pdf.timestamper_for = timestamper_before  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
