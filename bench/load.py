"""Measuring: percentiles, sequential latency, and a light HTTP/1.1 load generator.

The load generator writes pre-built raw requests on plain asyncio sockets (no HTTP
client library), so that on a 2-core machine as much CPU as possible stays with the
server; it reconnects when the server closes the connection (gunicorn's sync workers
close after every response).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Timing:
    """Latencies in seconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples, 99) * 1000


def time_calls(
    fn: Callable[[], object], *, n: int, warmup: int = 5, max_seconds: float | None = None
) -> Timing:
    """Call ``fn`` ``warmup`` then ``n`` times, one after the other; the latencies.

    With ``max_seconds``, stops earlier once that long has passed (after 20 calls at least).
    """
    for _ in range(warmup):
        fn()
    timing = Timing()
    begun = time.perf_counter()
    for _ in range(n):
        started = time.perf_counter()
        fn()
        timing.samples.append(time.perf_counter() - started)
        if (
            max_seconds is not None
            and len(timing.samples) >= 20
            and time.perf_counter() - begun > max_seconds
        ):
            break
    return timing


def raw_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: Counter
    timing: Timing

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _worker(host, port, requests, latencies, statuses, deadline, delay):
    # Connections open one at a time, as clients arrive: opened all at once, a burst that
    # one uvicorn worker accepted whole (asyncio accepts every pending connection in one
    # go), and with keep-alive that worker alone then served the run.
    await asyncio.sleep(delay)
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            request = next(requests)
        except StopIteration:
            break
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:  # closed before answering: count it, reconnect
            statuses["closed"] += 1
            writer.close()
            writer = None
            continue
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        statuses[int(status_line.split()[1])] += 1
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


# Seconds between the opening of two of the load generator's connections.
CONNECT_SPACING = 0.005


def run_load(
    base_url: str, requests: list[bytes], *, concurrency: int, seconds: float
) -> LoadResult:
    """Send ``requests`` over ``concurrency`` connections for at most ``seconds``."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[float] = []
    statuses: Counter = Counter()
    iterator = iter(requests)

    async def main():
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _worker(
                    host, int(port), iterator, latencies, statuses, deadline, n * CONNECT_SPACING
                )
                for n in range(concurrency)
            )
        )

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), elapsed, statuses, Timing(latencies))
