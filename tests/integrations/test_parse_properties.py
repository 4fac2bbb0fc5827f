"""Property tests: parse() on arbitrary input raises nothing but PayloadError."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.adapters import PLATFORMS, NormalizedEvent, PayloadError, get_adapter
from integrations.adapters.base import Attachment, EventType
from integrations.emulator import scenarios
from integrations.services.ingest import storable

from .conftest import load_fixture
from .payloads import email, message, wire

JSON_MESSAGE_PLATFORMS = ["facebook", "instagram", "whatsapp", "x", "telegram", "api", "discourse"]

ACCOUNT = {
    "facebook": "104000000000001",
    "instagram": "17841400000000001",
    "whatsapp": "106540352242922",
    "x": "4337869213",
    "telegram": "7000000001",
    "youtube": "UCbrand",
    "email": "support@brand.example",
    "api": "helpdesk",
    "discourse": "https://forum.example.com",
    "wordpress": "https://blog.example.com",
}
# Discourse names the event in a header: without it a post body is refused outright.
HEADERS = {"discourse": {"X-Discourse-Event": "post_edited"}}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["", "0", "1718000000", "2024-06-10T10:00:00Z", "add", "comment", "message_create"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=25,
)

SEEDS: dict[str, list[dict[str, Any]]] = {
    "facebook": [
        load_fixture("facebook", n)
        for n in ("dm_text", "delivery", "comment_top_level", "reaction")
    ],
    "instagram": [
        load_fixture("instagram", n) for n in ("dm_text", "comment_ig_login", "mention", "seen")
    ],
    "whatsapp": [load_fixture("whatsapp", n) for n in ("text", "image", "status_failed")],
    "x": [load_fixture("x", n) for n in ("dm", "mention_reply", "delete", "dm_read")],
    "telegram": [load_fixture("telegram", n) for n in ("message", "photo_reply", "edit")],
    "youtube": [load_fixture("youtube", "thread")],
    "api": [
        {
            "type": "message.created",
            "id": "m",
            "thread": "t",
            "created_at": "2024-06-10T10:00:00Z",
            "author": {"id": "u"},
            "attachments": [{"kind": "image"}],
        }
    ],
    "discourse": [
        scenarios.discourse_post(1, 2, 3, "Bonjour", user_id=4, username="jane", reply_to=1),
        scenarios.discourse_post(
            1, 2, 3, "", user_id=4, username="jane", deleted_at="2024-06-10T11:00:00Z"
        ),
    ],
    "wordpress": [
        scenarios.wordpress_comment(5, 6, "Bonjour", author_name="Jane", parent=4, status="hold")
    ],
}


def check(platform: str, body: bytes) -> None:
    try:
        events = get_adapter(platform).parse(
            body, HEADERS.get(platform, {}), account_external_id=ACCOUNT[platform]
        )
    except PayloadError:
        return
    assert all(isinstance(event, NormalizedEvent) for event in events)
    for event in events:
        assert event.idempotency_key
        assert event.platform_created_at.tzinfo is not None


@settings(max_examples=150, deadline=None)
@given(platform=st.sampled_from(PLATFORMS), body=st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_payload_error(platform: str, body: bytes) -> None:
    check(platform, body)


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(PLATFORMS), value=json_values)
def test_arbitrary_json_only_raises_payload_error(platform: str, value: Any) -> None:
    check(platform, json.dumps(value).encode())


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by walking ``path`` (indices modulo the children) in ``value``."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _mutate(value[key], path[1:], replacement)  # type: ignore[index]
    return copy


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(sorted(SEEDS)),
    pick=st.integers(min_value=0, max_value=10),
    path=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=8),
    replacement=json_values,
)
def test_mutated_real_payloads_only_raise_payload_error(
    platform: str, pick: int, path: list[int], replacement: Any
) -> None:
    seeds = SEEDS[platform]
    mutated = _mutate(seeds[pick % len(seeds)], path, replacement)
    check(platform, json.dumps(mutated).encode())


@settings(max_examples=100, deadline=None)
@given(
    header_name=st.sampled_from(
        ["From", "Message-ID", "References", "In-Reply-To", "Date", "Content-Type"]
    ),
    header_value=st.text(max_size=60),
)
def test_hostile_email_headers_only_raise_payload_error(
    header_name: str, header_value: str
) -> None:
    lines = {
        "From": "Jeanne <jeanne@client.example>",
        "Message-ID": "<a@b>",
        "Date": "Mon, 10 Jun 2024 10:00:00 +0000",
        header_name: header_value.replace("\r", " ").replace("\n", " "),
    }
    raw = "\r\n".join(f"{k}: {v}" for k, v in lines.items()) + "\r\n\r\nBonjour 🙂\r\n"
    check("email", raw.encode("utf-8", "surrogatepass"))


# Any text a person (or a broken client) can put in a message, NUL and lone surrogates
# included: each pushing platform's parser hands it over unchanged, and ``storable`` makes
# it something PostgreSQL accepts while changing nothing else.
any_text = st.text(alphabet=st.characters(codec=None, categories=None), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(sorted(set(JSON_MESSAGE_PLATFORMS))), text=any_text)
def test_every_platform_parses_any_message_text_unchanged(platform: str, text: str) -> None:
    body = wire(platform, message(platform, ACCOUNT[platform], "mid-1", text))

    headers = {"X-Discourse-Event": "post_created"} if platform == "discourse" else {}
    events = get_adapter(platform).parse(body, headers, account_external_id=ACCOUNT[platform])

    created = [e for e in events if e.event_type == EventType.MESSAGE_CREATED]
    assert len(created) == 1
    assert (created[0].text or "") == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80))
def test_email_bodies_parse_to_their_text(text: str) -> None:
    raw = email("mid-1", text.replace("\r", "").encode("utf-8"))

    events = get_adapter("email").parse(raw, {}, account_external_id=ACCOUNT["email"])

    created = [e for e in events if e.event_type == EventType.MESSAGE_CREATED]
    assert len(created) == 1
    assert (created[0].text or "").strip() == text.replace("\r", "").strip()


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_storable_text_is_what_postgresql_takes_and_no_more_is_changed(text: str) -> None:
    kept = storable(text)

    assert "\x00" not in kept
    kept.encode("utf-8")  # no lone surrogate left
    expected = "".join(
        "" if c == "\x00" else "\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text
    )
    assert kept == expected
    assert storable(kept) is kept


def _expected_storable(text: str) -> str:
    return "".join(
        "" if c == "\x00" else "\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text
    )


@settings(max_examples=300, deadline=None)
@given(
    text=any_text,
    caption=any_text,
    key=any_text,
    value=any_text,
    related=st.lists(any_text, max_size=3),
)
def test_storable_reaches_every_string_of_an_event_and_keeps_a_clean_one(
    text: str, caption: str, key: str, value: str, related: list[str]
) -> None:
    event = NormalizedEvent(
        channel="api",
        account_external_id="helpdesk",
        event_type=EventType.MESSAGE_CREATED,
        direction="inbound",
        origin="customer",
        conversation_kind="direct",
        thread_key="api:helpdesk:t1",
        idempotency_key="api:m1",
        platform_created_at=datetime(2026, 12, 1, tzinfo=UTC),
        text=text,
        attachments=(Attachment(kind="image", caption=caption, size=3),),
        related_external_ids=tuple(related),
        platform_metadata={key: [value, {"nested": value}, 7, None]},
    )

    kept = storable(event)

    assert kept.text == _expected_storable(text)
    assert kept.attachments[0].caption == _expected_storable(caption)
    assert kept.attachments[0].size == 3
    assert kept.related_external_ids == tuple(_expected_storable(r) for r in related)
    clean_value = _expected_storable(value)
    assert kept.platform_metadata == {
        _expected_storable(key): [clean_value, {"nested": clean_value}, 7, None]
    }
    assert kept.platform_created_at == event.platform_created_at
    # Nothing to change: the very same event, not a copy.
    assert (kept is event) == (kept == event)
    assert storable(kept) is kept


def test_storable_replaces_a_surrogate_pair_split_across_two_fields() -> None:
    # Each half alone is a lone surrogate, whatever the other field holds.
    attachment = Attachment(kind="file", url="https://x.example/\ud83d", caption="\ude00 ok")

    kept = storable(attachment)

    assert (kept.url, kept.caption) == ("https://x.example/\ufffd", "\ufffd ok")
