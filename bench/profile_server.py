"""`laborsign serve` under cProfile, for bench/signing_server.py's variant `profile`:
the statistics of the whole run go to the file named by BENCH_PROFILE when the server
exits. cProfile follows the coroutines and SQLAlchemy's greenlets alike (py-spy shows a
greenlet's stack without the coroutine that runs it), so each service's cumulative time
includes its SQL. Its overhead inflates every function by a similar factor: read the
shares, not the absolute times.

    BENCH_PROFILE=/tmp/serve.pstats .venv/bin/python bench/profile_server.py serve
"""

from __future__ import annotations

import atexit
import cProfile
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers import cli  # noqa: E402

if __name__ == "__main__":
    profile = cProfile.Profile()
    atexit.register(lambda: (profile.disable(), profile.dump_stats(os.environ["BENCH_PROFILE"])))
    profile.enable()
    sys.exit(cli.main(sys.argv[1:]))
