"""The bad input corpus: what people and platforms post, answered or ingested, never a 5xx.

Two tables. ``WEBHOOK_CORPUS`` goes through the real webhook endpoint of every pushing
platform, delivered and correctly signed by the emulator over HTTP, then through the ingest
step: each body is refused with the documented error and nothing is stored, or it is
stored and its InboundEvent ends ``processed`` (the message ingested exactly, or nothing
to ingest) or ``failed`` with an error, with no half-written contact, conversation or
message, and the drain goes on to the next event. ``REST_CORPUS`` goes through the REST
API's write endpoints: the API's one error format with the status that fits, or the write
done exactly, and nothing half-written either way.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count

from contacts.models import Contact, Note
from conversations.models import Conversation, Message
from crm.models import WebhookSubscription
from integrations.models import BrandAccount, InboundEvent
from integrations.services.processing import MAX_ATTEMPTS, inbound_events_drain

from .payloads import email, message, unknown_event, wire

pytestmark = pytest.mark.django_db(transaction=True)

_ids = itertools.count(1)

# Text people really send, and text that breaks naive code.
EMOJI_RTL = "مرحبا 👋🏽 שלום! \u202eevil\u202c 👨\u200d👩\u200d👧 ﷽ Zalgo: z̷̢̛a̶l̵g̸o̴"
CONTROLS = "tab\tnew\nline bell\x07 esc\x1b[31m del\x7f nul\x00 end"
LONG = ("Où est ma commande ? 📦 " * 5000)[:99_999] + "!"


def without(path: tuple) -> Callable[[Any], Any]:
    """A mutation that deletes the key at ``path`` (integers index lists)."""

    def mutate(payload: Any) -> Any:
        node = payload
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return payload

    return mutate


def replaced(path: tuple, value: Any) -> Callable[[Any], Any]:
    """A mutation that sets the key at ``path`` to ``value``."""

    def mutate(payload: Any) -> Any:
        node = payload
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return payload

    return mutate


META_ITEM = ("entry", 0, "messaging", 0)
WA_MESSAGE = ("entry", 0, "changes", 0, "value", "messages", 0)
X_DM = ("direct_message_events", 0)
# Per platform: the sender removed, the message id made an object, the time made words.
MISSING_SENDER = {  # or, where the author is optional, the thread
    "facebook": (*META_ITEM, "sender"),
    "instagram": (*META_ITEM, "sender"),
    "whatsapp": (*WA_MESSAGE, "from"),
    "x": (*X_DM, "message_create", "sender_id"),
    "telegram": ("message", "chat"),
    "api": ("id",),
    "discourse": ("post", "topic_id"),
}
MESSAGE_ID = {
    "facebook": (*META_ITEM, "message", "mid"),
    "instagram": (*META_ITEM, "message", "mid"),
    "whatsapp": (*WA_MESSAGE, "id"),
    "x": (*X_DM, "id"),
    "telegram": ("message", "message_id"),
    "api": ("id",),
    "discourse": ("post", "id"),
}
TIMESTAMP = {
    "facebook": (*META_ITEM, "timestamp"),
    "instagram": (*META_ITEM, "timestamp"),
    "whatsapp": (*WA_MESSAGE, "timestamp"),
    "x": (*X_DM, "created_timestamp"),
    "telegram": ("message", "date"),
    "api": ("created_at",),
    "discourse": ("post", "created_at"),
}


# --- the webhook corpus ----------------------------------------------------------------------

JSON_PLATFORMS = ["facebook", "instagram", "whatsapp", "x", "telegram", "api", "discourse"]
WEBHOOK_PLATFORMS = [*JSON_PLATFORMS, "email"]


@dataclass
class Case:
    """One hostile delivery and what must come of it.

    ``body(platform, account, mid)`` returns the payload (JSON value or raw bytes).
    ``refused`` is the expected ``(status, code)`` when the endpoint must refuse it;
    otherwise the body is stored and ``text`` is the message text it must yield (None:
    no message, the event ends processed or failed with its error; a tuple: any of these).
    """

    name: str
    body: Callable[[str, str, str], Any]
    refused: tuple[int, str] | None = None
    text: str | tuple[str | None, ...] | None = None
    platforms: list[str] = field(default_factory=lambda: WEBHOOK_PLATFORMS)
    headers: dict[str, str] = field(default_factory=dict)


def _mutated(mutation_for: Callable[[str], Callable[[Any], Any]]):
    return lambda p, a, m: mutation_for(p)(message(p, a, m, "Bonjour"))


WEBHOOK_CORPUS = [
    Case("plain", lambda p, a, m: message(p, a, m, "Bonjour"), text="Bonjour"),
    Case("emoji_and_right_to_left", lambda p, a, m: message(p, a, m, EMOJI_RTL), text=EMOJI_RTL),
    # PostgreSQL cannot store NUL in text: it is dropped, every other character is kept.
    Case(
        "control_characters_and_nul",
        lambda p, a, m: message(p, a, m, CONTROLS),
        text=CONTROLS.replace("\x00", ""),
    ),
    Case("message_of_100000_characters", lambda p, a, m: message(p, a, m, LONG), text=LONG),
    Case(
        "wrong_content_type",
        lambda p, a, m: message(p, a, m, "Bonjour"),
        text="Bonjour",
        headers={"Content-Type": "text/plain; charset=latin-1"},
    ),
    Case(
        "malformed_json",
        lambda p, a, m: wire(p, message(p, a, m, "Bonjour"))[:-7],
        refused=(400, "parse_error"),
        platforms=JSON_PLATFORMS,
    ),
    Case(
        "invalid_utf8",
        lambda p, a, m: wire(p, message(p, a, m, "Bonjour")).replace(b"Bonjour", b"Bon\xff\xfe"),
        refused=(400, "parse_error"),
        platforms=JSON_PLATFORMS,
    ),
    # Valid JSON, yet no UTF-8 can encode it: kept as the replacement character.
    Case(
        "lone_surrogate",
        lambda p, a, m: wire(p, message(p, a, m, "Bonjour")).replace(b"Bonjour", b"Bon\\ud800jour"),
        text="Bon\ufffdjour",
        platforms=JSON_PLATFORMS,
    ),
    Case(
        "deeply_nested",
        lambda p, a, m: b"[" * 100_000 + b"]" * 100_000,
        refused=(400, "parse_error"),
        platforms=JSON_PLATFORMS,
    ),
    Case(
        "huge_body",
        lambda p, a, m: b'{"pad": "' + b"a" * settings.CAUSERIE_INBOUND_MAX_BYTES + b'"}',
        refused=(413, "request_too_large"),
    ),
    Case("empty_body", lambda p, a, m: b"", refused=(400, "parse_error"), platforms=JSON_PLATFORMS),
    Case("json_null", lambda p, a, m: b"null"),
    Case("json_array", lambda p, a, m: b"[1, 2, 3]"),
    Case("empty_object", lambda p, a, m: b"{}"),
    Case(
        "nested_deep_inside_a_message",
        lambda p, a, m: replaced(("nested",), json.loads("[" * 900 + "]" * 900))(
            message(p, a, m, "Bonjour")
        ),
        text="Bonjour",
        platforms=JSON_PLATFORMS,
    ),
    Case("unknown_event_type", unknown_event, platforms=JSON_PLATFORMS),
    Case(
        "missing_sender", _mutated(lambda p: without(MISSING_SENDER[p])), platforms=JSON_PLATFORMS
    ),
    Case(
        "message_id_of_the_wrong_type",
        _mutated(lambda p: replaced(MESSAGE_ID[p], {"id": [1]})),
        platforms=JSON_PLATFORMS,
    ),
    # The customer did write: the message is kept, without the text nobody can read.
    Case(
        "text_of_the_wrong_type",
        lambda p, a, m: message(p, a, m, {"text": ["not", "a", "string"]}),
        text=("", None),
        platforms=JSON_PLATFORMS,
    ),
    Case(
        "time_of_the_wrong_type",
        _mutated(lambda p: replaced(TIMESTAMP[p], "yesterday at noon")),
        platforms=JSON_PLATFORMS,
    ),
    Case(
        "email_in_latin1_and_broken_utf8",
        lambda p, a, m: email(m, "Ça coûte combien ?".encode("latin-1"), charset="utf-8"),
        text="\ufffda co\ufffdte combien ?",
        platforms=["email"],
    ),
    Case(
        "email_without_headers",
        lambda p, a, m: b"\r\n\r\njust a body, no From, no Message-ID",
        platforms=["email"],
    ),
]


def _settle() -> None:
    """Drain until every stored event is processed or failed (retries made due at once)."""
    for _ in range(MAX_ATTEMPTS + 1):
        InboundEvent.objects.filter(status="pending").update(next_attempt_at=None)
        inbound_events_drain(budget_seconds=30)
        if not InboundEvent.objects.filter(status="pending").exists():
            return


def _counts() -> tuple[int, int, int]:
    return Contact.objects.count(), Conversation.objects.count(), Message.objects.count()


@pytest.mark.parametrize("platform", WEBHOOK_PLATFORMS)
def test_the_webhook_corpus_is_answered_or_ingested_never_a_5xx(platform, emu, account_for):
    account, url = account_for(platform)
    failures = []
    for case in WEBHOOK_CORPUS:
        if platform not in case.platforms:
            continue
        mid = f"corpus-{case.name}-{next(_ids)}"
        body = wire(platform, case.body(platform, account.external_id, mid))
        before, stored_before = _counts(), InboundEvent.objects.count()
        known = set(Message.objects.values_list("pk", flat=True))

        answer = emu.deliver(
            platform, url, raw=body, account=account.external_id, extra_headers=case.headers
        )
        _settle()

        outcome = _check(case, answer, before, stored_before, known)
        if outcome:
            failures.append(f"{case.name}: {outcome}")
    assert not failures, "\n".join(failures)

    # Whatever came before, the next good message is ingested.
    last = wire(platform, message(platform, account.external_id, "last", "fin"))
    answer = emu.deliver(platform, url, raw=last, account=account.external_id)
    assert answer["status"] == 200
    _settle()
    assert Message.objects.filter(text="fin").count() == 1


def _check(case: Case, answer: dict, before: tuple, stored_before: int, known: set) -> str | None:
    """What went wrong with ``case`` (None: all held)."""
    status = answer["status"]
    if status is None or status >= 500:
        return f"answered {status}: {answer.get('body') or answer.get('error')}"
    if case.refused is not None:
        error = json.loads(answer["body"] or "{}").get("error", {})
        if (status, error.get("code")) != case.refused:
            return f"expected {case.refused}, got {status} {answer['body'][:200]}"
        if InboundEvent.objects.count() != stored_before or _counts() != before:
            return "refused, yet something was stored"
        return None
    if status != 200:
        return f"expected 200, got {status} {answer['body'][:200]}"
    event = InboundEvent.objects.order_by("-received_at").first()
    if event is None or InboundEvent.objects.count() != stored_before + 1:
        return "not stored"
    if event.status not in {"processed", "failed"} or (
        event.status == "failed" and not event.error
    ):
        return f"event left {event.status!r} with error {event.error!r}"
    created = Message.objects.exclude(pk__in=known)
    allowed = case.text if isinstance(case.text, tuple) else (case.text,)
    if None in allowed and not created.exists() and _counts() == before:
        return None
    if case.text is None:
        if _counts() != before:
            return f"no message expected, got {list(created.values_list('text', flat=True))}"
        return None
    texts = [m.text.rstrip("\r\n") for m in created]
    if event.status != "processed" or len(texts) != 1 or texts[0] not in allowed:
        got = [(len(t), t[:40], t[-40:]) for t in texts]
        return f"expected the text stored exactly, got {event.status} {event.error} {got}"
    return None


# --- the REST corpus ---------------------------------------------------------------------

NESTED = b'{"a":' * 5000 + b"1" + b"}" * 5000


@dataclass
class RestEndpoint:
    """A write endpoint, a valid body for it, and the field that carries people's text."""

    name: str
    method: str
    path: str
    body: dict[str, Any]
    text_field: str | None
    stored: Callable[[Any], Any]


def rest_endpoints(ws, conversation, contact) -> list[RestEndpoint]:
    c, k = conversation.pk, contact.pk
    api = {
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "callback_url": "http://127.0.0.1:9/cb",
    }
    return [
        RestEndpoint("contact_create", "post", "contacts/", {"name": "Ana"}, "name", _contacts),
        RestEndpoint(
            "contact_update", "patch", f"contacts/{k}/", {"company": "Acme"}, "company", _contacts
        ),
        RestEndpoint(
            "conversation_update",
            "patch",
            f"conversations/{c}/",
            {"priority": "high"},
            None,
            lambda ws: list(Conversation.objects.values_list("priority", "status")),
        ),
        RestEndpoint(
            "reply", "post", f"conversations/{c}/messages/", {"text": "Hi"}, "text", _messages
        ),
        RestEndpoint(
            "private_note",
            "post",
            f"conversations/{c}/messages/",
            {"text": "Hi", "private": True},
            "text",
            _messages,
        ),
        RestEndpoint(
            "contact_note",
            "post",
            f"contacts/{k}/notes/",
            {"text": "Hi"},
            "text",
            lambda ws: list(Note.objects.values_list("text", flat=True)),
        ),
        RestEndpoint(
            "webhook_create",
            "post",
            "webhooks/",
            {"url": "http://127.0.0.1:9/hook", "events": ["message.created"]},
            None,
            lambda ws: list(WebhookSubscription.objects.values_list("url", flat=True)),
        ),
        RestEndpoint(
            "api_channel_create",
            "post",
            "brand-accounts/",
            {"platform": "api", "name": "Desk", "external_id": "desk", "credentials": api},
            "name",
            lambda ws: list(BrandAccount.objects.values_list("name", flat=True)),
        ),
    ]


def _contacts(ws) -> list:
    return list(Contact.objects.order_by("created_at").values_list("name", "company"))


def _messages(ws) -> list:
    return list(Message.objects.order_by("received_at").values_list("text", "private"))


# (name, raw body or None for a JSON body built from the endpoint's, content type, expected)
# where expected is (status, code) for refusals, or "written" (the text stored exactly).
REST_CORPUS: list[tuple[str, Any, str, Any]] = [
    ("malformed_json", b'{"text": "Hi", ', "application/json", (400, "parse_error")),
    ("invalid_utf8", b'{"text": "Hi \xff\xfe"}', "application/json", (400, "parse_error")),
    (
        "deeply_nested_array",
        b"[" * 100_000 + b"]" * 100_000,
        "application/json",
        (400, "parse_error"),
    ),
    ("deeply_nested_object", NESTED, "application/json", (400, "parse_error")),
    ("nan", b'{"text": NaN}', "application/json", (400, "parse_error")),
    (
        "form_encoded",
        b"text=Hi",
        "application/x-www-form-urlencoded",
        (415, "unsupported_media_type"),
    ),
    ("text_plain", b'{"text": "Hi"}', "text/plain", (415, "unsupported_media_type")),
    (
        "multipart",
        b"--x\r\n\r\n--x--",
        "multipart/form-data; boundary=x",
        (415, "unsupported_media_type"),
    ),
    ("json_null", b"null", "application/json", (400, "validation_error")),
    ("json_array", b"[]", "application/json", (400, "validation_error")),
    ("json_string", b'"Hi"', "application/json", (400, "validation_error")),
    ("nul_in_text", "text:a\x00b", "application/json", (400, "parse_error")),
    ("nul_in_a_key", "key:a\x00b", "application/json", (400, "parse_error")),
    ("lone_surrogate", b'{"text": "\\ud800"}', "application/json", (400, "parse_error")),
    ("wrong_type_object", "text:" + "{}", "application/json", (400, "validation_error")),
    ("wrong_type_list", "text:[]", "application/json", (400, "validation_error")),
    ("emoji_and_right_to_left", "text:" + EMOJI_RTL, "application/json", "written"),
    ("control_characters", "text:bell\x07 esc\x1b del\x7f", "application/json", "written"),
    ("huge_body", "huge", "application/json", (413, "request_too_large")),
    ("message_of_100000_characters", "text:" + LONG, "application/json", (400, "validation_error")),
]


def _rest_body(endpoint: RestEndpoint, raw: Any) -> bytes | None:
    """The bytes to send for a corpus row on ``endpoint`` (None: not applicable)."""
    if isinstance(raw, bytes):
        return raw
    if raw == "huge":
        return json.dumps(
            {**endpoint.body, "pad": "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        ).encode()
    kind, _, value = raw.partition(":")
    if kind == "key":
        return json.dumps({**endpoint.body, value: 1}).encode()
    if endpoint.text_field is None:
        return None
    decoded = json.loads(value) if value in ("{}", "[]") else value
    return json.dumps({**endpoint.body, endpoint.text_field: decoded}).encode()


@pytest.mark.parametrize("row", REST_CORPUS, ids=[row[0] for row in REST_CORPUS])
def test_the_rest_corpus_is_answered_in_the_error_format_or_written(row, ws, client):
    from tests.conversations.conftest import Inbox

    _name, raw, content_type, expected = row
    ingested = Inbox(ws).inbound(text="Hello")
    failures = []
    for endpoint in rest_endpoints(ws, ingested.conversation, ingested.conversation.contact):
        body = _rest_body(endpoint, raw)
        if body is None:
            continue
        before = endpoint.stored(ws)
        response = getattr(client, endpoint.method)(
            ws.url(endpoint.path), data=body, content_type=content_type
        )
        after = endpoint.stored(ws)
        where = f"{endpoint.name}: {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{where} {response.content[:200]}")
        elif expected == "written":
            if response.status_code not in (200, 201, 202):
                failures.append(f"{where} {response.content[:200]}")
            elif not any(
                json.loads(_rest_body(endpoint, raw))[endpoint.text_field] in row_ for row_ in after
            ):
                failures.append(f"{where} text not stored exactly")
        else:
            error = response.json().get("error", {})
            if (response.status_code, error.get("code")) != expected:
                failures.append(f"{where} {error.get('code')} (expected {expected})")
            if set(error) != {"code", "message", "details"}:
                failures.append(f"{where} not the error format: {response.content[:200]}")
            if after != before:
                failures.append(f"{where} refused, yet something changed")
    assert not failures, "\n".join(failures)


def test_bad_events_in_one_batch_never_hold_back_the_good_ones(account_for):
    from integrations.services.inbound import inbound_event_store

    account, _ = account_for("telegram")
    bad = [
        b"null",
        b"[" * 900 + b"]" * 900,
        wire("telegram", message("telegram", account.external_id, "m1", "nul\x00 here")),
        wire("telegram", message("telegram", account.external_id, "m2", {"text": 1})),
        wire("telegram", message("telegram", account.external_id, "m3", "x")).replace(
            b'"x"', b'"\\udfff"'
        ),
        wire("telegram", unknown_event("telegram", account.external_id, "m4")),
    ]
    good = wire("telegram", message("telegram", account.external_id, "m5", "still here"))
    for body in [*bad, good]:
        assert inbound_event_store(account=account, body=body, headers={})

    inbound_events_drain(budget_seconds=30)  # one pass, retries not yet due

    assert Message.objects.filter(text="still here").count() == 1
    assert Message.objects.filter(text="nul here").count() == 1
    assert Message.objects.filter(text="\ufffd").count() == 1
    _settle()
    statuses = dict(InboundEvent.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) <= {"processed", "failed"}, statuses
    assert not InboundEvent.objects.filter(status="failed", error="").exists()


# The drain runs in a thread while this one reads: SQLite's shared in-memory test database
# locks one of them out ("database table is locked"), where a file database would wait.
@pytest.mark.postgres
def test_events_stored_right_after_a_drain_are_drained_too(account_for, settings):
    """Processing is queued at most once a second: events stored while that drain has
    already passed them get a drain at the end of the second, without beat's sweep."""
    import time

    from django.core.cache import cache

    from integrations.services import inbound

    settings.CAUSERIE_EAGER_TASKS_IN_THREADS = True
    cache.delete_many([inbound.KICK_KEY, inbound.TRAILING_KICK_KEY])
    inbound._last_kick["at"] = inbound._last_trailing["at"] = -inbound.KICK_INTERVAL_SECONDS
    account, _ = account_for("telegram")

    def store(mid: str) -> None:
        body = wire("telegram", message("telegram", account.external_id, mid, mid))
        assert inbound.inbound_event_store(account=account, body=body, headers={})

    def all_processed(within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not InboundEvent.objects.exclude(status="processed").exists():
                return True
            time.sleep(0.05)
        return False

    store("first")
    assert all_processed(within=5)
    # As if that drain had been queued just now: the next events fall within its second.
    inbound._last_kick["at"] = time.monotonic()
    cache.set(inbound.KICK_KEY, 1, timeout=inbound.KICK_INTERVAL_SECONDS)
    store("second")
    store("third")

    assert all_processed(within=5)
    assert Message.objects.filter(text__in=["first", "second", "third"]).count() == 3
