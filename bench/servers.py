"""Real server processes (gunicorn sync workers, uvicorn) serving the bench settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(kind: str, port: int, workers: int, app: str | None = None) -> list[str]:
    if kind == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ]
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            app or "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--lifespan",
            "off",
            "--log-level",
            "warning",
        ]
    raise ValueError(kind)


@contextmanager
def serving(kind: str, *, workers: int = 2, env: dict[str, str] | None = None):
    """Start ``kind`` on a free port, wait until it answers; yield its base URL."""
    with serving_process(kind, workers=workers, env=env) as (base, _process):
        yield base


@contextmanager
def serving_process(
    kind: str, *, workers: int = 2, env: dict[str, str] | None = None, app: str | None = None
):
    """As ``serving``, yielding ``(base URL, the server's master process)``; ``app``: the
    ASGI application uvicorn serves (the product's by default)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ready = _answers(f"{base}/api/v1/health")
    with _process(command(kind, port, workers, app)[1:], env, ready, kind) as process:
        yield base, process


def _answers(url: str):
    """A check that ``url`` answers without a server error."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def process_tree(pid: int) -> list[int]:
    """The process and its descendants alive now (a server's or a worker's forks)."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            listed = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        children = [int(child) for child in listed]
        found += children
        frontier += children
    return found


def processes_rss_bytes(pids: list[int]) -> int:
    """Resident memory of the processes, in bytes (one that has exited counts nothing)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (the server's workers), in bytes."""
    return processes_rss_bytes(process_tree(pid))


@contextmanager
def _process(arguments: list[str], env: dict[str, str] | None, ready, what: str):
    """Run ``python arguments`` in its own session until ``ready()`` holds; stop it after."""
    process_env = {**os.environ, **(env or {}), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    process = subprocess.Popen(
        [sys.executable, *arguments], cwd=ROOT, env=process_env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} was not ready within 60 s")
            time.sleep(0.2)
        yield process
    finally:
        # The master stops its own workers (a warm shutdown); the group only if it hangs.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def emulator():
    """The platform emulator in a process of its own; yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ready = _answers(f"{base}/_emulator/health")
    with _process(["-m", "integrations.emulator", "--port", str(port)], None, ready, "emulator"):
        yield base


@contextmanager
def celery_worker(
    *,
    concurrency: int = 2,
    queues: str = "celery",
    pool: str = "prefork",
    name: str = "worker",
    env: dict[str, str] | None = None,
):
    """A Celery worker on ``queues`` (``pool``, ``concurrency`` processes or threads), ready."""
    from config.celery import app

    def ready() -> bool:
        answers = app.control.ping(timeout=0.5)
        return any(node.startswith(f"{name}@") for answer in answers for node in answer)

    arguments = ["-m", "celery", "-A", "config", "worker", "-P", pool, "-c", str(concurrency)]
    arguments += ["-Q", queues, "-n", f"{name}@%h", "-l", "warning"]
    arguments += ["--without-gossip", "--without-mingle"]
    with _process(arguments, env, ready, "celery worker") as process:
        yield process
