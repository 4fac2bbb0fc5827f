"""Real ASGI server processes (uvicorn, HTTP and websockets) for the tests that need one.

They run against the test database, so the test must be transactional
(``django_db(transaction=True)``) for the server to see its rows.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_database_url() -> str:
    """The test database (not the configured one): the servers must see the test's rows."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class AsgiServer:
    """``uvicorn config.asgi:application`` on a port of its own, stopped and started at will.

    The port stays the same across restarts, so that a browser's page reconnects to it.
    """

    def __init__(self, *, env: dict[str, str], log_dir: Path, port: int | None = None):
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.port = port or free_port()
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "config.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--lifespan", "off", "--no-access-log", "--ws", "websockets",
        ]  # fmt: skip
        # A file, not a pipe: a pipe nobody reads would stall a chatty server.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited: {self.log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {self.port} did not start: {self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
