"""Whose CPU a benchmark spends: PostgreSQL's processes, the workers', the machine's.

Read from Linux's ``/proc`` when PostgreSQL runs on this machine (the bench's own
server does). PostgreSQL serves each connection in a process of its own that exits with
the connection; the postmaster reaps it, and the kernel adds the time of reaped children
to the parent's ``cutime``/``cstime``. The postmaster's total (its own time and its
reaped children's) plus its live children's is therefore all the CPU the server has used,
backends that came and went included.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
# Indexes in /proc/<pid>/stat after the command's closing parenthesis (fields 3 onwards).
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 11, 12, 13, 14


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _own_ticks(fields: list[str]) -> int:
    return int(fields[_UTIME]) + int(fields[_STIME])


def _children(parent: int) -> Iterator[list[str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[_PPID]) == parent:
                yield fields


def backend_pid(connection) -> int:
    """The PostgreSQL process serving ``connection`` (Django's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def postmaster_pid(connection) -> int | None:
    """The PostgreSQL server's main process, if it runs on this machine; else None."""
    fields = _stat(backend_pid(connection))
    return int(fields[_PPID]) if fields is not None else None


def processes_gone(pids, *, timeout: float = 10.0) -> None:
    """Wait until the processes have exited and been reaped (no ``/proc`` entry left).

    A backend reaped between the reading of the postmaster's time and that of its
    children would be counted in neither: ``server_cpu_seconds`` is read once the
    backends a measure used have gone.
    """
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL's backends {sorted(pids)} are still there")
        time.sleep(0.01)


def server_cpu_seconds(postmaster: int) -> float:
    """All the CPU the server has used so far: the postmaster, its children that have
    exited, and its children alive now."""
    own = _stat(postmaster)
    if own is None:
        raise RuntimeError(f"PostgreSQL's postmaster {postmaster} is gone")
    ticks = _own_ticks(own) + int(own[_CUTIME]) + int(own[_CSTIME])
    ticks += sum(_own_ticks(child) for child in _children(postmaster))
    return ticks / _TICKS


def process_cpu_seconds(pid: int) -> float:
    """The CPU a live process has used so far, all its threads included."""
    fields = _stat(pid)
    if fields is None:
        raise RuntimeError(f"process {pid} is gone")
    return _own_ticks(fields) / _TICKS


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of every core since boot, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / _TICKS, total / _TICKS


@dataclass
class CpuSpent:
    """CPU seconds spent during a block: by PostgreSQL (None if it is not on this
    machine), and by the machine's cores in all (busy and available)."""

    server: float | None = None
    busy: float = 0.0
    available: float = 0.0

    @property
    def busy_share(self) -> float:
        return self.busy / self.available if self.available else float("nan")


@contextmanager
def cpu_spent(connection) -> Iterator[CpuSpent]:
    """Measure the CPU PostgreSQL and the machine spend during the block; the
    ``CpuSpent`` yielded is filled in when the block ends. ``connection`` (Django's)
    finds the server; the block should end with ``processes_gone`` for the backends it
    closed, so that none is being reaped while the server's time is read."""
    spent = CpuSpent()
    postmaster = postmaster_pid(connection)
    server_before = server_cpu_seconds(postmaster) if postmaster else None
    busy_before, all_before = machine_busy_seconds()
    yield spent
    busy_after, all_after = machine_busy_seconds()
    if postmaster:
        spent.server = server_cpu_seconds(postmaster) - server_before
    spent.busy, spent.available = busy_after - busy_before, all_after - all_before
