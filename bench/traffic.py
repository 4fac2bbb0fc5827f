"""Traffic for a running cluster: customers writing in, agents replying, and the ledger.

Customers' messages are streamed by the emulator (signed, duplicated, out of order,
redelivered until accepted); every message text starts with a unique ``[token]``, and
so does every agent's reply, so that what Causerie stored can be compared, token by
token, with what was sent: each customer message stored once, each reply stored once and
received once by the emulated platform.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from integrations.emulator import scenarios

# The brand accounts of a cluster's workspace: platforms that push webhooks.
ACCOUNTS: dict[str, tuple[str, dict[str, str]]] = {
    "facebook": (
        "104000000000901",
        {"page_access_token": "EAAG-faults", "app_secret": "fb-faults-secret", "verify_token": "v"},
    ),
    "instagram": (
        "17841400000000901",
        {"access_token": "IGAA-faults", "app_secret": "ig-faults-secret", "verify_token": "v"},
    ),
    "whatsapp": (
        "106540352240901",
        {"access_token": "EAAW-faults", "app_secret": "wa-faults-secret", "verify_token": "v"},
    ),
    "x": (
        "2244994901",
        {
            "consumer_key": "ck-faults",
            "consumer_secret": "cs-faults-secret",
            "access_token": "2244994901-at",
            "access_token_secret": "ats-faults-secret",
        },
    ),
    "telegram": (
        "7000000901",
        {"bot_token": "7000000901:AAF-faults", "secret_token": "tg-faults-secret"},
    ),
}
BATCHING = {"facebook", "instagram", "whatsapp", "x"}


def _body(
    platform: str, external_id: str, customer: int, n: int, token: str, text: str, now: float
) -> Any:
    # Message ids carry the token: unique across runs, phases and customers.
    ms, s = int(now * 1000), int(now)
    if platform == "facebook":
        item = scenarios.messenger_message(
            external_id, f"61{customer:013d}", f"m_{token}", text, timestamp_ms=ms
        )
        return scenarios.page_envelope(external_id, messaging=[item], time_ms=ms)
    if platform == "instagram":
        item = scenarios.instagram_dm(
            external_id, f"17{customer:013d}", f"ig_{token}", text, timestamp_ms=ms
        )
        return scenarios.instagram_envelope(external_id, messaging=[item], time_ms=ms)
    if platform == "whatsapp":
        wa_id = f"33{customer:09d}"
        return scenarios.whatsapp_envelope(
            "102290129340901",
            external_id,
            contacts=[(wa_id, f"Customer {customer}")],
            messages=[scenarios.whatsapp_text(wa_id, f"wamid.{token}", text, timestamp=s)],
        )
    if platform == "x":
        sender = f"30{customer:08d}"
        return scenarios.x_payload(
            external_id,
            dms=[
                scenarios.x_dm(
                    f"95{customer:08d}{n:06d}", sender, external_id, text, timestamp_ms=ms
                )
            ],
            users={sender: (f"customer{customer}", f"Customer {customer}")},
        )
    if platform == "telegram":
        chat = 100_000_000 + customer
        return scenarios.telegram_message(
            customer * 1000 + n, chat, n, text, date=s, username=f"customer{customer}"
        )
    raise ValueError(platform)


@dataclass
class Traffic:
    """Webhook deliveries and the tokens of the distinct customer messages they carry."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


def customer_traffic(
    accounts: dict[str, dict],
    base_urls: list[str],
    *,
    label: str,
    customers: int,
    messages: int,
    duplicates: float = 0.15,
    seed: int = 0,
    first_customer: int = 0,
) -> Traffic:
    """``customers`` per platform writing ``messages`` each, delivered to ``base_urls``
    in turn; a share of ``duplicates`` delivered twice, everything shuffled, and on
    batching platforms some deliveries carrying two messages in one POST."""
    rng = random.Random(seed)
    traffic = Traffic()
    now = time.time()
    bodies: list[tuple[str, Any]] = []
    for platform, account in accounts.items():
        pending: list[Any] = []
        for customer in range(first_customer, first_customer + customers):
            for n in range(1, messages + 1):
                token = f"{label}-{platform[:2]}-{customer}-{n}-{uuid.uuid4().hex[:6]}"
                traffic.tokens.add(token)
                text = f"[{token}] " + rng.choice(scenarios.TEXTS)
                pending.append(
                    _body(platform, account["external_id"], customer, n, token, text, now)
                )
        while pending:
            take = 2 if platform in BATCHING and rng.random() < 0.3 and len(pending) > 1 else 1
            chunk, pending = pending[:take], pending[take:]
            body = scenarios.batch(platform, chunk) if take > 1 else chunk[0]
            bodies.append((platform, body))
    deliveries = list(bodies)
    deliveries += [(p, copy.deepcopy(b)) for p, b in bodies if rng.random() < duplicates]
    rng.shuffle(deliveries)
    for i, (platform, body) in enumerate(deliveries):
        account = accounts[platform]
        traffic.deliveries.append(
            {
                "platform": platform,
                "account": account["external_id"],
                "target_url": base_urls[i % len(base_urls)] + account["webhook_path"],
                "payload": body,
            }
        )
    return traffic


class Agents:
    """Agents replying through the REST API, each reply with its own Idempotency-Key,
    retried with the same key on 5xx and connection errors as a careful client does."""

    def __init__(self, base_urls: list[str], slug: str, token: str, *, label: str) -> None:
        self.base_urls = base_urls
        self.slug = slug
        self.headers = {"Authorization": f"Bearer {token}"}
        self.label = label
        self.replies: dict[str, str] = {}  # token -> message id
        self.statuses: Counter = Counter()
        self.refused: list[str] = []
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(label)

    def _request(
        self, http: httpx.Client, method: str, path: str, *, headers: dict, json: Any = None
    ) -> httpx.Response:
        """One call, retried on 5xx and connection failures until answered otherwise."""
        delay = 0.2
        while True:
            base = self._rng.choice(self.base_urls)
            try:
                answer = http.request(method, base + path, headers=headers, json=json)
                self.statuses[answer.status_code] += 1
                if answer.status_code < 500:
                    return answer
            except httpx.HTTPError as exc:
                self.statuses[type(exc).__name__] += 1
            time.sleep(delay)
            delay = min(delay * 2, 3.0)

    def conversations(self, http: httpx.Client) -> list[dict]:
        path = f"/api/v1/workspaces/{self.slug}/conversations/"
        answer = self._request(http, "GET", path, headers=self.headers)
        return answer.json().get("results", []) if answer.status_code == 200 else []

    def reply(self, http: httpx.Client, conversation_id: str) -> None:
        token = f"{self.label}-r-{uuid.uuid4().hex[:10]}"
        headers = {**self.headers, "Idempotency-Key": token}
        answer = self._request(
            http,
            "POST",
            f"/api/v1/workspaces/{self.slug}/conversations/{conversation_id}/messages/",
            headers=headers,
            json={"text": f"[{token}] Merci, on s'en occupe !"},
        )
        if answer.status_code == 202:
            self.replies[token] = answer.json()["id"]
        else:
            self.refused.append(f"{answer.status_code} {answer.text[:200]}")

    def run(self, *, interval: float = 0.2) -> None:
        """Reply to a random recent conversation every ``interval`` seconds until stopped."""
        with httpx.Client(timeout=15) as http:
            while not self.stop.is_set():
                recent = self.conversations(http)
                for conversation in self._rng.sample(recent, min(3, len(recent))):
                    if self.stop.is_set():
                        break
                    self.reply(http, conversation["id"])
                    self.stop.wait(interval)
                if not recent:
                    self.stop.wait(0.5)

    def start(self, **kwargs) -> None:
        self._thread = threading.Thread(target=self.run, kwargs=kwargs, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


# The ledger: what Causerie stored, read straight from its database ----------------------
TOKEN_SQL = r"substring(text from '^\[([^]]+)\]')"


def settled(db_url: str) -> dict[str, int]:
    """Work still in flight: inbound events not processed, replies not sent yet."""
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        events = dict(
            conn.execute(
                "SELECT status, count(*) FROM integrations_inboundevent GROUP BY status"
            ).fetchall()
        )
        replies = dict(
            conn.execute(
                "SELECT status, count(*) FROM conversations_message "
                "WHERE direction = 'outbound' AND author_type <> 'contact' "
                f"AND {TOKEN_SQL} IS NOT NULL GROUP BY status"
            ).fetchall()
        )
    return {
        "events_pending": events.get("pending", 0),
        "events_failed": events.get("failed", 0),
        "replies_queued": replies.get("queued", 0),
        "replies_sending": replies.get("sending", 0),
        "replies_failed": replies.get("failed", 0),
    }


def in_flight(left: dict[str, int]) -> int:
    """Of ``settled``'s counts, the work still to be done (failures are done, and reported
    by ``discrepancies``)."""
    return left["events_pending"] + left["replies_queued"] + left["replies_sending"]


def ledger(db_url: str) -> dict[str, Any]:
    """Counts per token of stored messages, and the event log's shape."""
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        inbound = Counter(
            dict(
                conn.execute(
                    f"SELECT {TOKEN_SQL}, count(*) FROM conversations_message "
                    f"WHERE direction = 'inbound' AND {TOKEN_SQL} IS NOT NULL GROUP BY 1"
                ).fetchall()
            )
        )
        outbound = {
            token: (count, statuses)
            for token, count, statuses in conn.execute(
                f"SELECT {TOKEN_SQL}, count(*), array_agg(status) FROM conversations_message "
                f"WHERE direction = 'outbound' AND {TOKEN_SQL} IS NOT NULL GROUP BY 1"
            ).fetchall()
        }
        seqs = conn.execute(
            "SELECT workspace_id, count(*), count(DISTINCT seq), min(seq), max(seq) "
            "FROM crm_event GROUP BY workspace_id"
        ).fetchall()
        created_events = Counter(
            dict(
                conn.execute(
                    "SELECT data->>'id', count(*) FROM crm_event "
                    "WHERE type = 'message.created' GROUP BY 1"
                ).fetchall()
            )
        )
        message_ids = {
            str(row[0]) for row in conn.execute("SELECT id FROM conversations_message").fetchall()
        }
        pending = conn.execute(
            "SELECT count(*) FROM integrations_inboundevent WHERE status <> 'processed'"
        ).fetchone()[0]
    return {
        "inbound": inbound,
        "outbound": outbound,
        "seqs": seqs,
        "created_events": created_events,
        "message_ids": message_ids,
        "events_not_processed": pending,
    }


def platform_sends(emulator: Any) -> Counter:
    """Replies the emulated platforms accepted (2xx), counted per reply token."""
    received: Counter = Counter()
    for request in emulator.requests():
        if request["method"] != "POST" or not 200 <= request["status"] < 300:
            continue
        raw = request.get("raw_body") or ""
        start = raw.find("[")
        while start != -1:
            end = raw.find("]", start)
            if end == -1:
                break
            candidate = raw[start + 1 : end]
            if "-r-" in candidate:
                received[candidate] += 1
                break
            start = raw.find("[", end)
    return received


def discrepancies(
    db_url: str,
    emulator: Any,
    sent_tokens: set[str],
    replies: dict[str, str],
) -> list[str]:
    """Everything that is not exactly once: an empty list when the run is clean.

    Every reply an agent got a 202 for must be ``sent`` (or further) and received once by
    the platform: a restart of PostgreSQL or Redis does not excuse a reply left
    ``sending``.
    """
    found = ledger(db_url)
    problems = []
    inbound = found["inbound"]
    missing = sent_tokens - set(inbound)
    doubled = {t: c for t, c in inbound.items() if c > 1}
    unexpected = set(inbound) - sent_tokens
    if missing:
        problems.append(
            f"{len(missing)} customer messages never stored, e.g. {sorted(missing)[:3]}"
        )
    if doubled:
        problems.append(
            f"{len(doubled)} customer messages stored twice or more: {list(doubled.items())[:3]}"
        )
    if unexpected:
        problems.append(f"{len(unexpected)} stored messages nobody sent: {sorted(unexpected)[:3]}")
    outbound = found["outbound"]
    received = platform_sends(emulator)
    for token in replies:
        count, statuses = outbound.get(token, (0, []))
        if count != 1:
            problems.append(f"reply {token} stored {count} times")
        elif statuses[0] not in ("sent", "delivered", "read"):
            problems.append(f"reply {token} is {statuses[0]}, not sent")
        if received.get(token, 0) != 1:
            problems.append(
                f"reply {token} received {received.get(token, 0)} times by the platform"
            )
    stray = set(outbound) - set(replies)
    if stray:
        problems.append(
            f"{len(stray)} replies stored that no agent got a 202 for: {sorted(stray)[:3]}"
        )
    for workspace, count, distinct, low, high in found["seqs"]:
        if count != distinct or low != 1 or high != count:
            problems.append(
                f"event log of {workspace}: {count} events, {distinct} distinct seq, "
                f"from {low} to {high} (a gap or a duplicate)"
            )
    created = found["created_events"]
    twice = {k: v for k, v in created.items() if v != 1}
    if twice:
        problems.append(f"{len(twice)} messages with several message.created events")
    without = found["message_ids"] - set(created)
    if without:
        problems.append(f"{len(without)} messages without a message.created event")
    if found["events_not_processed"]:
        problems.append(f"{found['events_not_processed']} inbound events not processed")
    return problems
