"""A whole Causerie on localhost, for fault injection and soak runs.

Its own PostgreSQL (``initdb`` into a temporary directory) and its own ``redis-server``,
each on a free port, so that restarting them never disturbs anything else on the machine;
the platform emulator; web processes (gunicorn on the WSGI entry point, uvicorn on the
ASGI one), Celery workers and beat, all started as the production settings start them
(``config.settings.production``, everything from the environment) and pointed at those.
Every process runs in its own session, so that a kill reaches its children too.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from integrations.emulator.client import emulator_api_environment

from .servers import ROOT, command, free_port, process_tree, processes_rss_bytes

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian layout), or None."""
    found = sorted(
        glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name.split(".")[0] or 0)
    )
    for candidate in reversed(found):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def missing_tools() -> list[str]:
    """What a cluster needs and this machine lacks (empty: it can run)."""
    missing = []
    if postgres_bin() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a 'postgres' user (initdb refuses to run as root)")
    return missing


def _wait(check, what: str, timeout: float = 60.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.returncode}")
        try:
            result = check()
            if result:
                return result
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Postgres:
    """A private PostgreSQL server: initdb'd into ``root``, listening on a free port."""

    def __init__(self, root: Path) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self.log = root / "postgres.log"

    def _run(self, *args: str) -> None:
        argv = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as the postgres user.
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")

    def init(self) -> None:
        """Create the cluster (trust authentication on loopback only)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "200",
            # A test cluster: losing the last commits on an OS crash does not matter, the
            # server process crashing (what the faults do) loses nothing even so.
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop: ``fast`` (sessions cut, clean shutdown) or ``immediate`` (a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connections(self) -> int:
        """Client backends connected right now (all databases)."""
        import psycopg

        with psycopg.connect(self.url(), connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchone()
        return int(row[0]) - 1  # not this one


class Redis:
    """A private redis-server without persistence: a restart starts it empty."""

    def __init__(self, root: Path) -> None:
        self.root = root / "redis"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root),
                "--maxclients", "2000",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        _wait(lambda: self.client().ping(), "redis-server", 30, self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url(), socket_connect_timeout=2, socket_timeout=5)

    def connections(self) -> int:
        """Connected clients (not counting the one asking)."""
        return int(self.client().info("clients")["connected_clients"]) - 1


@dataclass
class Process:
    """One Causerie (or emulator) process, restartable, its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self, wait: bool = True) -> None:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.starts += 1
        if wait and self.port:
            _wait(lambda: _port_open(self.port), self.name, 60, self.popen)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and all its children at once (a machine going away)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 20 s."""
        if not self.running:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def pids(self) -> list[int]:
        """The process and its descendants (gunicorn and Celery fork workers)."""
        return process_tree(self.popen.pid) if self.running else []

    def rss_bytes(self) -> int:
        """Resident memory of the process and its descendants."""
        return processes_rss_bytes(self.pids())


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Cluster:
    """PostgreSQL, Redis, emulator and Causerie's processes, under one temporary root."""

    root: Path
    database: str = "causerie"
    postgres: Postgres = field(init=False)
    redis: Redis = field(init=False)
    processes: dict[str, Process] = field(default_factory=dict)
    emulator_url: str = ""

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # The postgres user (when run as root) must reach its data directory inside.
        self.root.chmod(0o755)
        self.postgres = Postgres(self.root / "pg")
        self.redis = Redis(self.root)
        self.secret_key = base64.urlsafe_b64encode(os.urandom(30)).decode()
        self.encryption_key = _fernet_key()
        self.emulator_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.public_port = free_port()

    # Environment ---------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """The production settings' environment, pointed at this cluster's servers."""
        emulator = self.emulator_url
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))
        }
        return {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": self.secret_key,
            "CAUSERIE_ENCRYPTION_KEYS": self.encryption_key,
            # Plain HTTP on loopback: no TLS in front of these processes.
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": self.postgres.url(self.database),
            "REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.redis.url(1),
            "CAUSERIE_PUBLIC_URL": f"http://127.0.0.1:{self.public_port}",
            **emulator_api_environment(emulator),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` with the production environment; its standard output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)}: {done.stderr[-3000:]}")
        return done.stdout

    # Lifecycle -----------------------------------------------------------------------
    def start_servers(self) -> None:
        """Initialise and start PostgreSQL and Redis, create and migrate the database."""
        self.postgres.init()
        self.postgres.start()
        import psycopg

        with psycopg.connect(self.postgres.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.redis.start()
        self.manage("migrate", "--noinput")

    def add(self, name: str, argv: list[str], *, port: int | None = None, **env: str) -> Process:
        process = Process(name, argv, self.env(**env), self.root / f"{name}.log", port=port)
        self.processes[name] = process
        return process

    def start_emulator(self) -> None:
        emulator = self.add(
            "emulator",
            [sys.executable, "-m", "integrations.emulator", "--port", str(self.emulator_port)],
            port=self.emulator_port,
        )
        emulator.start()

    def start_web(self, name: str, kind: str = "gunicorn", *, workers: int = 2) -> str:
        """A web process on a free port (``kind``: gunicorn/WSGI or uvicorn/ASGI); its URL."""
        port = free_port()
        web = self.add(name, command(kind, port, workers), port=port)
        web.start()
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200, name)
        return base

    def start_worker(self, name: str, *, concurrency: int = 2) -> Process:
        """A Celery worker on the default queues (ingest, webhooks); its database sessions
        are named ``causerie-<name>`` (``application_name``) so that they can be told apart."""
        return self._start_celery(name, ["-Q", "celery,webhooks", "-c", str(concurrency)])

    def start_sends_worker(self, name: str, *, threads: int = 8) -> Process:
        """The replies' sends worker of the README: queue ``outbound``, a pool of threads."""
        return self._start_celery(name, ["-Q", "outbound", "-P", "threads", "-c", str(threads)])

    def _start_celery(self, name: str, options: list[str]) -> Process:
        database = f"{self.postgres.url(self.database)}?application_name=causerie-{name}"
        worker = self.add(
            name,
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning",
                *options, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
            ],
            DATABASE_URL=database,
        )  # fmt: skip
        worker.start()
        return worker

    def start_beat(self) -> Process:
        beat = self.add(
            "beat",
            [
                sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "warning",
                "-s", str(self.root / "beat-schedule"),
            ],
        )  # fmt: skip
        beat.start()
        return beat

    def close(self) -> None:
        """Stop every process and both servers."""
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.redis.stop()
        with contextlib.suppress(RuntimeError):
            self.postgres.stop("fast")
        # The logs stay (to explain a failure); the database files go.
        shutil.rmtree(self.postgres.data, ignore_errors=True)

    def logs_tail(self, chars: int = 2000) -> str:
        """The end of every process's log, to explain a failure."""
        parts = []
        for process in self.processes.values():
            if process.log.exists():
                parts.append(f"--- {process.name}\n{process.log.read_text()[-chars:]}")
        return "\n".join(parts)


def provision(cluster: Cluster, web: str, platforms: dict[str, tuple[str, dict]]) -> dict:
    """A workspace with one brand account per ``platform: (external_id, credentials)``,
    connected through the REST API and registered with the emulator.

    Returns ``{"slug", "token", "accounts": {platform: {id, external_id, webhook_path}}}``.
    """
    from integrations.emulator.client import EmulatorClient

    created = json.loads(
        cluster.manage(
            "create_workspace", "faults", "--name", "Faults", "--owner-email", "owner@faults.test"
        )
    )
    token = created["api_key"]
    headers = {"Authorization": f"Bearer {token}"}
    accounts = {}
    with EmulatorClient(cluster.emulator_url) as emulator, httpx.Client(timeout=30) as http:
        for platform, (external_id, credentials) in platforms.items():
            emulator.register_account(platform, external_id, credentials)
            # Retried on 503 (a deadlock with a backfill task, the database starting) with
            # the same Idempotency-Key, as any careful client does.
            for _ in range(10):
                answer = http.post(
                    f"{web}/api/v1/workspaces/faults/brand-accounts/",
                    headers={**headers, "Idempotency-Key": f"connect-{platform}"},
                    json={
                        "platform": platform,
                        "name": platform.title(),
                        "external_id": external_id,
                        "credentials": credentials,
                    },
                )
                if answer.status_code != 503:
                    break
                time.sleep(1)
            answer.raise_for_status()
            body = answer.json()
            accounts[platform] = {
                "id": body["id"],
                "external_id": external_id,
                "webhook_path": httpx.URL(body["webhook_url"]).path,
            }
    return {"slug": created["workspace"], "token": token, "accounts": accounts}
