"""Webhook streams: many deliveries POSTed in the background and redelivered as platforms do.

Meta, X, Telegram and the Standard Webhooks senders keep a delivery until it is answered
2xx: a 5xx, a 4xx other than a refusal of the request itself, a timeout or a refused
connection makes them try again later. A stream does the same with a short backoff (the
real platforms wait minutes to hours, which no test can), from a few sender threads, so
that deliveries arrive concurrently and, with several threads, out of order.

Each stream keeps what happened to every delivery: how many attempts it took, every
status answered and whether it was finally accepted. That is the record a fault-injection
run compares with what Causerie stored.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import signing
from .state import EmulatorState

_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# Answers after which a platform stops redelivering: the endpoint refused this delivery
# itself (bad signature, unknown account, too large), not a passing outage.
FINAL_REFUSALS = frozenset({400, 401, 403, 404, 410, 413, 422})
_ids = itertools.count(1)


@dataclass
class Delivery:
    """One webhook to deliver until accepted."""

    platform: str
    target_url: str
    payload: Any
    credentials: dict[str, Any]
    attempts: int = 0
    statuses: list[str] = field(default_factory=list)
    accepted: bool = False
    refused: bool = False


@dataclass
class Stream:
    """Deliveries sent by ``threads`` senders, at most ``rate`` new ones per second."""

    id: str
    deliveries: list[Delivery]
    threads: int = 4
    rate: float = 0.0
    max_backoff: float = 5.0
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict[str, Any]:
        """Progress and outcome: counts of deliveries, attempts and answers."""
        with self.lock:
            statuses = Counter(s for d in self.deliveries for s in d.statuses)
            accepted = sum(d.accepted for d in self.deliveries)
            refused = sum(d.refused for d in self.deliveries)
            attempts = sum(d.attempts for d in self.deliveries)
            end = self.finished_at or time.monotonic()
            return {
                "id": self.id,
                "total": len(self.deliveries),
                "accepted": accepted,
                "refused": refused,
                "pending": len(self.deliveries) - accepted - refused,
                "attempts": attempts,
                "redeliveries": attempts - accepted - refused,
                "statuses": dict(statuses),
                "done": self.finished_at is not None,
                "seconds": round(end - self.started_at, 3),
            }

    def outcomes(self) -> list[dict[str, Any]]:
        """Per delivery, in the order given: attempts, answers, accepted."""
        with self.lock:
            return [
                {"attempts": d.attempts, "statuses": list(d.statuses), "accepted": d.accepted}
                for d in self.deliveries
            ]


def _attempt(client: httpx.Client, delivery: Delivery) -> str:
    # Signed again on every attempt: senders with timestamps in the signature do so too.
    raw, headers = signing.sign_delivery(delivery.platform, delivery.payload, delivery.credentials)
    try:
        return str(client.post(delivery.target_url, content=raw, headers=headers).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


def _sender(stream: Stream, todo: queue.Queue, pace: threading.Semaphore | None) -> None:
    with httpx.Client(timeout=_TIMEOUT) as client:
        while not stream.cancelled:
            try:
                delivery = todo.get_nowait()
            except queue.Empty:
                return
            while pace is not None and not pace.acquire(timeout=0.5):
                if stream.cancelled:
                    return
            failures = 0
            while not stream.cancelled:
                status = _attempt(client, delivery)
                with stream.lock:
                    delivery.attempts += 1
                    delivery.statuses.append(status)
                    if status.isdigit() and 200 <= int(status) < 300:
                        delivery.accepted = True
                    elif status.isdigit() and int(status) in FINAL_REFUSALS:
                        delivery.refused = True
                if delivery.accepted or delivery.refused:
                    break
                failures += 1
                # Exponential backoff with jitter, capped: a restarted server is not
                # stampeded by every sender at the same instant.
                time.sleep(random.uniform(0.5, 1.0) * min(stream.max_backoff, 0.25 * 2**failures))


def _pacer(stream: Stream, pace: threading.Semaphore, total: int) -> None:
    interval = 1.0 / stream.rate
    for _ in range(total):
        if stream.cancelled:
            return
        pace.release()
        time.sleep(interval)


def stream_start(
    state: EmulatorState,
    deliveries: list[Delivery],
    *,
    threads: int = 4,
    rate: float = 0.0,
    max_backoff: float = 5.0,
) -> Stream:
    """Start delivering in background threads; the stream is kept in ``state.streams``."""
    stream = Stream(
        id=f"stream-{next(_ids)}",
        deliveries=deliveries,
        threads=max(1, threads),
        rate=rate,
        max_backoff=max_backoff,
    )
    todo: queue.Queue = queue.Queue()
    for delivery in deliveries:
        todo.put(delivery)
    pace = threading.Semaphore(0) if rate > 0 else None
    senders = [
        threading.Thread(target=_sender, args=(stream, todo, pace), daemon=True)
        for _ in range(stream.threads)
    ]
    if pace is not None:
        threading.Thread(target=_pacer, args=(stream, pace, len(deliveries)), daemon=True).start()

    def finish() -> None:
        for sender in senders:
            sender.join()
        with stream.lock:
            stream.finished_at = time.monotonic()

    for sender in senders:
        sender.start()
    threading.Thread(target=finish, daemon=True).start()
    with state.lock:
        state.streams[stream.id] = stream
    return stream
