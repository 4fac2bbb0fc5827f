"""Soak: half an hour of mixed load on PostgreSQL and Redis, watching for growth and errors.

``make soak`` (``python -m bench.soak``; ``SOAK_SECONDS`` sets the length, 1800 by
default). A cluster of its own (``bench.cluster``: PostgreSQL and Redis on free ports,
gunicorn and uvicorn, a Celery worker and beat, the emulator) takes, all at once:

- ingest: the emulator streams customer messages on five platforms, duplicated and
  shuffled, a new stream every 30 s;
- replies: agents answer through the REST API (Idempotency-Key on every reply);
- inbox reads: the open inbox, a conversation's messages, a contact search;
- websocket clients: ``SOAK_SOCKETS`` (36) realtime inbox clients on the ASGI server.

Every ``SAMPLE_SECONDS`` it samples the resident memory of each Causerie process (with
its children) and PostgreSQL's and Redis's client connections. It fails when, after the
warm-up, a process's memory grows by more than the bound below, the connection counts
grow, any request is answered 5xx or fails, a websocket is dropped, or the ledger at the
end is not exactly once (``bench.traffic.discrepancies``). The result goes to
``bench/soak.json`` and BENCHMARKS.md's "Soak" section.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from . import report, traffic
from .cluster import Cluster, missing_tools, provision
from .runner import machine
from .servers import ROOT

SAMPLE_SECONDS = 5.0
STREAM_EVERY = 30.0
# Growth allowed after warm-up, per process: the larger of a share and an absolute amount
# (allocators keep freed memory; a slow leak of a few KB per request shows well above it).
RSS_GROWTH_SHARE = 0.20
RSS_GROWTH_BYTES = 40 * 1024 * 1024
CAUSERIE_PROCESSES = ("web1", "web2", "worker1", "worker1-sends", "beat")
RESULT = ROOT / "bench" / "soak.json"


class Readers:
    """Members reading the inbox: the open list, a conversation's messages, a search."""

    def __init__(self, bases: list[str], slug: str, token: str) -> None:
        self.bases, self.slug = bases, slug
        self.headers = {"Authorization": f"Bearer {token}"}
        self.statuses: Counter = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _get(self, http: httpx.Client, path: str, **params) -> httpx.Response | None:
        try:
            answer = http.get(
                random.choice(self.bases) + f"/api/v1/workspaces/{self.slug}/{path}",
                headers=self.headers,
                params=params,
            )
        except httpx.HTTPError as exc:
            self.statuses[type(exc).__name__] += 1
            return None
        self.statuses[answer.status_code] += 1
        return answer

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                inbox = self._get(http, "conversations/", status="open")
                rows = inbox.json().get("results", []) if inbox and inbox.status_code == 200 else []
                if rows:
                    self._get(http, f"conversations/{random.choice(rows)['id']}/messages/")
                self._get(http, "contacts/", q="Customer")
                self.stop.wait(0.3)


class Sockets:
    """Websocket clients of the realtime inbox, counting what they receive and any drop."""

    def __init__(self, base: str, slug: str, token: str, count: int) -> None:
        self.url = base.replace("http://", "ws://") + "/ws/v1/inbox/"
        self.slug, self.token, self.count = slug, token, count
        self.received = 0
        self.drops: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.main()), daemon=True)

    async def client(self, n: int) -> None:
        import websockets

        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stop.is_set():
            try:
                async with websockets.connect(self.url, additional_headers=headers) as socket:
                    await socket.send(json.dumps({"type": "subscribe", "workspace": self.slug}))
                    while not self.stop.is_set():
                        try:
                            raw = await asyncio.wait_for(socket.recv(), timeout=1.0)
                        except TimeoutError:
                            continue
                        self.received += 1
                        if json.loads(raw).get("type") == "ping":
                            # The server closes a client silent past its heartbeat timeout.
                            await socket.send(json.dumps({"type": "pong"}))
                return
            except Exception as exc:
                if self.stop.is_set():
                    return
                self.drops.append(f"client {n}: {type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(1)

    async def main(self) -> None:
        await asyncio.gather(*(self.client(n) for n in range(self.count)))


def _sample(cluster: Cluster, started: float) -> dict:
    sample = {"t": round(time.monotonic() - started, 1)}
    for name in CAUSERIE_PROCESSES:
        process = cluster.processes.get(name)
        sample[f"rss_{name}"] = process.rss_bytes() if process else 0
    try:
        sample["pg_connections"] = cluster.postgres.connections()
    except Exception:
        sample["pg_connections"] = None
    try:
        sample["redis_clients"] = cluster.redis.connections()
    except Exception:
        sample["redis_clients"] = None
    return sample


def _window(samples: list[dict], key: str, start: float, end: float) -> list[float]:
    return [s[key] for s in samples if start <= s["t"] <= end and s.get(key) is not None]


def judge(samples: list[dict], seconds: float, warmup: float) -> tuple[dict, list[str]]:
    """Growth after warm-up per series, and the bounds it broke (empty: none)."""
    window = max(60.0, seconds / 10)
    figures, broken = {}, []
    for key in [f"rss_{n}" for n in CAUSERIE_PROCESSES] + ["pg_connections", "redis_clients"]:
        first = _window(samples, key, warmup, warmup + window)
        last = _window(samples, key, seconds - window, seconds + 60)
        if not first or not last:
            continue
        before, after = sum(first) / len(first), sum(last) / len(last)
        peak = max(_window(samples, key, 0, seconds + 60))
        figures[key] = {"after_warmup": before, "at_end": after, "peak": peak}
        if key.startswith("rss_"):
            allowed = max(before * RSS_GROWTH_SHARE, RSS_GROWTH_BYTES)
            if after - before > allowed:
                broken.append(
                    f"{key[4:]} grew {(after - before) / 2**20:.1f} MB after warm-up "
                    f"(bound {allowed / 2**20:.1f} MB)"
                )
        elif after > max(first) + 2:
            # Pools are bounded: the count may move within what warm-up reached, not past it.
            broken.append(f"{key} grew from at most {max(first)} to {after:.1f} on average")
    return figures, broken


def soak(seconds: float, sockets: int) -> dict:
    """Run the soak; the result (also written to bench/soak.json)."""
    root = Path(tempfile.mkdtemp(prefix="causerie-soak-"))
    cluster = Cluster(root)
    warmup = min(300.0, seconds / 5)
    errors: list[str] = []
    try:
        cluster.start_servers()
        cluster.start_emulator()
        web1 = cluster.start_web("web1", "gunicorn", workers=2)
        web2 = cluster.start_web("web2", "uvicorn", workers=1)
        cluster.start_worker("worker1", concurrency=2)
        cluster.start_sends_worker("worker1-sends")
        cluster.start_beat()
        workspace = provision(cluster, web1, traffic.ACCOUNTS)
        slug, token = workspace["slug"], workspace["token"]
        bases = [web1, web2]
        from integrations.emulator.client import EmulatorClient

        emulator = EmulatorClient(cluster.emulator_url)
        agents = traffic.Agents(bases, slug, token, label="soak")
        readers = Readers(bases, slug, token)
        realtime = Sockets(web2, slug, token, sockets)
        started = time.monotonic()
        agents.start(interval=0.5)
        readers.thread.start()
        realtime.thread.start()
        streams, tokens, samples = [], set(), []
        next_stream = next_sample = 0.0
        chunk = 0
        while (now := time.monotonic() - started) < seconds:
            if now >= next_stream:
                chunk += 1
                sent = traffic.customer_traffic(
                    workspace["accounts"],
                    bases,
                    label=f"soak{chunk}",
                    customers=4,
                    messages=3,
                    seed=chunk,
                    first_customer=chunk * 100,
                )
                tokens |= sent.tokens
                streams.append(emulator.stream(sent.deliveries, threads=2, rate=4.0))
                next_stream = now + STREAM_EVERY
            if now >= next_sample:
                samples.append(_sample(cluster, started))
                next_sample = now + SAMPLE_SECONDS
            time.sleep(0.5)
        agents.finish()
        readers.stop.set()
        realtime.stop.set()
        readers.thread.join(timeout=60)
        realtime.thread.join(timeout=60)
        samples.append(_sample(cluster, started))
        webhook_statuses: Counter = Counter()
        for stream in streams:
            deadline = time.monotonic() + 120
            while not (status := emulator.stream_status(stream))["done"]:
                if time.monotonic() > deadline:
                    errors.append(f"{stream} not delivered: {status}")
                    break
                time.sleep(1)
            webhook_statuses.update(status["statuses"])
        deadline = time.monotonic() + 180
        while traffic.in_flight(left := traffic.settled(cluster.postgres.url(cluster.database))):
            if time.monotonic() > deadline:
                errors.append(f"not settled: {left}")
                break
            time.sleep(1)
        errors += traffic.discrepancies(
            cluster.postgres.url(cluster.database), emulator, tokens, agents.replies
        )
        emulator.close()
        for name, statuses in (
            ("webhook", webhook_statuses),
            ("reply API", agents.statuses),
            ("read API", readers.statuses),
        ):
            bad = {k: v for k, v in statuses.items() if not str(k).isdigit() or int(k) >= 500}
            if bad:
                errors.append(f"{name} answers 5xx or failed: {bad}")
        errors += [f"{len(agents.refused)} replies refused: {agents.refused[:3]}"] * bool(
            agents.refused
        )
        errors += [f"websocket dropped: {d}" for d in realtime.drops[:10]]
        growth, broken = judge(samples, seconds, warmup)
        errors += broken
        minutes = seconds / 60
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "seconds": round(seconds),
            "warmup_seconds": round(warmup),
            "machine": machine(),
            "load": {
                "webhook_deliveries": sum(webhook_statuses.values()),
                "customer_messages": len(tokens),
                "replies": len(agents.replies),
                "read_requests": sum(readers.statuses.values()),
                "websocket_clients": sockets,
                "websocket_messages": realtime.received,
                "per_minute": {
                    "webhook_deliveries": round(sum(webhook_statuses.values()) / minutes),
                    "replies": round(len(agents.replies) / minutes),
                    "read_requests": round(sum(readers.statuses.values()) / minutes),
                },
            },
            "statuses": {
                "webhook": dict(webhook_statuses),
                "replies": {str(k): v for k, v in agents.statuses.items()},
                "reads": {str(k): v for k, v in readers.statuses.items()},
            },
            "bounds": {
                "rss_growth": f"max({RSS_GROWTH_SHARE:.0%} of the post-warm-up level, "
                f"{RSS_GROWTH_BYTES // 2**20} MB) per process",
                "connections": "no higher at the end than the post-warm-up maximum + 2",
            },
            "growth": growth,
            "samples": samples,
            "errors": errors,
            "passed": not errors,
        }
    finally:
        cluster.close()


def main(argv: list[str] | None = None) -> int:
    missing = missing_tools()
    if missing:
        print(f"soak: needs {', '.join(missing)}", file=sys.stderr)
        return 2
    seconds = float(os.environ.get("SOAK_SECONDS", "1800"))
    sockets = int(os.environ.get("SOAK_SOCKETS", "36"))
    print(f"soak: {seconds:.0f} s, {sockets} websocket clients")
    result = soak(seconds, sockets)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    report.write_benchmarks()
    for line in result["errors"]:
        print(f"soak: {line}", file=sys.stderr)
    print(f"soak: {'passed' if result['passed'] else 'FAILED'}; wrote {RESULT}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
