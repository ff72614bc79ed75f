"""Benchmark: hostile Excel uploads (time and extra peak memory until refused).

    .venv/bin/python bench/hostile_xlsx.py [--old REF] [--rows 23000000] [--strings 3000000]

Builds two small .xlsx files with the template's header: one whose worksheet holds
23 million empty `<row/>` elements (~140 MB unpacked, ~200 kB packed), one whose string
table holds 3 million shared strings (no declared count, so the reader has to stream
it). Each is parsed by `parse_rows` (the import's CPU-bound part, as run in the process
pool) in a fresh process; the figures are wall time, CPU time and the peak RSS above
the process's RSS just before the call (ru_maxrss minus VmRSS). With --old REF the same
runs use `core/enterprise/employee_import.py` as of that git ref (e.g. main) for a side
by side comparison; those runs are cut off after --timeout seconds.
Target: each hostile file refused in < 2 s with < 100 MB extra.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.crypto import FieldCipher  # noqa: E402
from core.enterprise import employee_import as I  # noqa: E402
from core.errors import DomainError  # noqa: E402
from tests.enterprise_factories import hostile_xlsx  # noqa: E402


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(path: Path, old: Path | None) -> dict[str, object]:
    """One parse in this (fresh) process."""
    module = I
    if old is not None:
        spec = importlib.util.spec_from_file_location("old_employee_import", old)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    data = path.read_bytes()
    cipher = FieldCipher(b"k" * 32, b"l" * 32)
    before = _rss_kb()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        module.parse_rows(data, [], {}, cipher, set())
        outcome = "accepted"
    except DomainError as err:
        outcome = err.code
    return {
        "outcome": outcome, "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "extra_rss_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
                              / 1024, 1),
        "file_kb": round(len(data) / 1024),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=23_000_000)
    p.add_argument("--strings", type=int, default=3_000_000)
    p.add_argument("--old", help="git ref whose employee_import.py to run side by side")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--measure", nargs=2, metavar=("FILE", "OLD_SOURCE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        file, old_source = args.measure
        print(json.dumps(measure(Path(file), Path(old_source) if old_source != "-" else None)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = {"23M empty rows": Path(tmp, "rows.xlsx"),
                 "3M shared strings": Path(tmp, "strings.xlsx")}
        hostile_xlsx(files["23M empty rows"], empty_rows=args.rows)
        hostile_xlsx(files["3M shared strings"], shared_strings=args.strings)
        versions = {"this tree": "-"}
        if args.old:
            old = Path(tmp, "old_employee_import.py")
            old.write_bytes(subprocess.run(
                ["git", "show", f"{args.old}:core/enterprise/employee_import.py"],
                cwd=ROOT, check=True, capture_output=True).stdout)
            versions = {args.old: str(old), **versions}
        for case, path in files.items():
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(i.file_size for i in zf.infolist())
            print(f"{case}: {path.stat().st_size / 1024:.0f} kB, "
                  f"{unpacked / 2**20:.0f} MB unpacked")
            for version, source in versions.items():
                try:
                    run = subprocess.run(
                        [sys.executable, __file__, "--measure", str(path), source],
                        capture_output=True, text=True, timeout=args.timeout, check=True)
                    result = json.loads(run.stdout)
                except subprocess.TimeoutExpired:
                    result = {"outcome": f"still running after {args.timeout:.0f} s"}
                print(f"  {version:>10}: " + ", ".join(f"{k} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
