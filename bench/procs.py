"""What the server benchmarks share: a free port, waiting for a started server, and the
CPU time of server processes read from /proc (Linux)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    """Return once something accepts connections on the loopback port (or time is up:
    the first request then fails and says why)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)


def _stat_fields(stat: Path) -> list[str] | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its threads included)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return _cpu(fields) if fields else 0.0


def group_cpu_seconds(pgid: int) -> float | None:
    """utime + stime of every process in a process group (a server and its workers);
    None where /proc has none."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and int(fields[2]) == pgid:  # stat field 5: the process group
            total += _cpu(fields)
            found = True
    return total if found else None
