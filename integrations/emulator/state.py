"""The in-memory state of one emulator: accounts, requests, faults, poll queues, history.

One lock guards everything: the emulator is a test double serving a handful of
concurrent requests, so simplicity beats throughput here.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLATFORMS = (
    "facebook",
    "instagram",
    "whatsapp",
    "x",
    "telegram",
    "youtube",
    "email",
    "api",
    "discourse",
    "wordpress",
)
FAULT_KINDS = ("rate_limit", "server_error", "policy", "auth")
DEFAULT_YOUTUBE_QUOTA = 10_000


@dataclass
class Fault:
    """An error the emulator answers instead of success, ``remaining`` more times."""

    kind: str
    remaining: int
    retry_after: float = 30.0
    code: str | None = None
    message: str | None = None


@dataclass
class TelegramBot:
    """getUpdates queue of one bot: updates not yet confirmed by an ``offset``."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000_001
    webhook_url: str | None = None
    next_message_id: dict[str, int] = field(default_factory=dict)


class EmulatorState:
    """Everything one emulator instance remembers, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every account, request, fault, queue and counter."""
        with self.lock:
            self.accounts: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.faults: dict[str, list[Fault]] = {}
            self.telegram: dict[str, TelegramBot] = {}
            self.youtube_threads: dict[str, list[dict[str, Any]]] = {}
            # Graph history (backfill): (platform, account, "feed"|"media"|"conversations").
            self.graph_history: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            # Discourse: site -> topic id -> highest post number; WordPress: site -> id ->
            # comment (with ``_modified``, the time of its last change).
            self.discourse_topics: dict[str, dict[int, int]] = {}
            self.wordpress_comments: dict[str, dict[int, dict[str, Any]]] = {}
            self.youtube_quota_used = 0
            self.youtube_quota_limit = DEFAULT_YOUTUBE_QUOTA
            self.sinks: dict[str, list[dict[str, Any]]] = {}
            self.sink_status: dict[str, int] = {}
            self.x_nonces: set[str] = set()
            for running in getattr(self, "streams", {}).values():
                running.cancelled = True
            self.streams: dict[str, Any] = {}
            self._seq = itertools.count(1)
            self._ids = itertools.count(1)

    # Accounts -----------------------------------------------------------------------
    def add_account(self, platform: str, external_id: str, credentials: Mapping[str, Any]) -> None:
        """Register (or replace) the credentials the emulator accepts for an account."""
        with self.lock:
            self.accounts = [
                a
                for a in self.accounts
                if not (a["platform"] == platform and a["external_id"] == external_id)
            ]
            self.accounts.append(
                {"platform": platform, "external_id": external_id, "credentials": dict(credentials)}
            )

    def find_account(self, platform: str | None = None, **match: str) -> dict[str, Any] | None:
        """The first account of ``platform`` whose credentials contain every ``match`` item."""
        with self.lock:
            for account in self.accounts:
                if platform is not None and account["platform"] != platform:
                    continue
                creds = account["credentials"]
                external = match.get("external_id")
                if external is not None and account["external_id"] != external:
                    continue
                if all(creds.get(k) == v for k, v in match.items() if k != "external_id"):
                    return account
        return None

    # Requests -----------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        """Append a received platform request (with the answer given) to the log."""
        with self.lock:
            entry["seq"] = next(self._seq)
            entry["received_at"] = time.time()
            self.requests.append(entry)

    def recorded(self, platform: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first, optionally of one platform."""
        with self.lock:
            return [r for r in self.requests if platform is None or r["platform"] == platform]

    # Faults -------------------------------------------------------------------------
    def add_fault(self, platform: str, fault: Fault) -> None:
        """Queue a fault for the next ``fault.remaining`` calls to ``platform``."""
        with self.lock:
            self.faults.setdefault(platform, []).append(fault)

    def take_fault(self, platform: str, kinds: tuple[str, ...] | None = None) -> Fault | None:
        """Consume one occurrence of the oldest pending fault of ``platform``.

        With ``kinds``, only a fault of those kinds is consumed (SMTP refuses bad
        credentials at AUTH, everything else at MAIL FROM).
        """
        with self.lock:
            queue = self.faults.get(platform, [])
            while queue and queue[0].remaining <= 0:
                queue.pop(0)
            if not queue or (kinds is not None and queue[0].kind not in kinds):
                return None
            fault = queue[0]
            fault.remaining -= 1
            return Fault(fault.kind, 1, fault.retry_after, fault.code, fault.message)

    # Ids ----------------------------------------------------------------------------
    def next_number(self) -> int:
        """A process-unique increasing number for realistic ids."""
        with self.lock:
            return next(self._ids)

    def snowflake(self) -> str:
        """An X-style 19-digit id."""
        return str(1_800_000_000_000_000_000 + self.next_number() * 4096 + secrets.randbelow(4096))

    def digits(self, prefix: str = "178", length: int = 17) -> str:
        """A numeric id of ``length`` digits starting with ``prefix`` (Graph style)."""
        number = str(self.next_number()).rjust(length - len(prefix), "0")
        return prefix + number[-(length - len(prefix)) :]

    def token(self, size: int = 16) -> str:
        """A URL-safe random token."""
        return secrets.token_urlsafe(size)
