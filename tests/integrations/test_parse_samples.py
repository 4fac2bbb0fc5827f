"""Every CHANNELS.md sample parses into the expected normalized events (§9.1-§9.3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.adapters import NormalizedEvent, PayloadError, get_adapter
from integrations.adapters.base import Direction, EventType, Origin

from .conftest import load_fixture

PAGE = "104000000000001"
FEED_PAGE = "448242228374517"
IG = "17841400000000001"
PNID = "106540352242922"


def parse(platform: str, sample: str, account: str) -> list[NormalizedEvent]:
    body = json.dumps(load_fixture(platform, sample)).encode()
    return get_adapter(platform).parse(body, {}, account_external_id=account)


def only(events: list[NormalizedEvent]) -> NormalizedEvent:
    assert len(events) == 1, events
    return events[0]


def assert_fields(event: NormalizedEvent, expected: dict[str, Any]) -> None:
    actual = {key: getattr(event, key) for key in expected}
    assert actual == expected


MESSENGER_CASES = [
    (
        "dm_text",
        {
            "channel": "messenger",
            "event_type": EventType.MESSAGE_CREATED,
            "direction": Direction.INBOUND,
            "origin": Origin.CUSTOMER,
            "conversation_kind": "direct",
            "thread_key": f"{PAGE}:6000000000000001",
            "external_message_id": "m_AbCdEf123",
            "author_external_id": "6000000000000001",
            "text": "Hi, is my order shipped?",
            "idempotency_key": f"msgr:{PAGE}:m_AbCdEf123",
            "platform_created_at": datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC),
        },
    ),
    (
        "inline_reply",
        {
            "parent_external_id": "m_AbCdEf123",
            "external_message_id": "m_Reply456",
            "idempotency_key": f"msgr:{PAGE}:m_Reply456",
        },
    ),
    (
        "edit",
        {
            "event_type": EventType.MESSAGE_EDITED,
            "external_message_id": "m_AbCdEf123",
            "edit_seq": 1,
            "text": "Hi, is my order #42 shipped?",
            "idempotency_key": f"msgr:{PAGE}:m_AbCdEf123:edit:1",
        },
    ),
    (
        "delivery",
        {
            "event_type": EventType.RECEIPT_DELIVERED,
            "status": "delivered",
            "direction": Direction.SYSTEM,
            "related_external_ids": ("m_Out001",),
            "receipt_watermark": datetime.fromtimestamp(1718000400, tz=UTC),
            "idempotency_key": f"msgr:{PAGE}:6000000000000001:delivery:1718000400000",
        },
    ),
    (
        "read",
        {
            "event_type": EventType.RECEIPT_READ,
            "receipt_watermark": datetime.fromtimestamp(1718000400, tz=UTC),
            "idempotency_key": f"msgr:{PAGE}:6000000000000001:read:1718000400000",
        },
    ),
    (
        "reaction",
        {
            "event_type": EventType.REACTION_ADDED,
            "external_message_id": "m_Out001",
            "reaction": "\u2764\ufe0f",
            "idempotency_key": (
                f"msgr:{PAGE}:m_Out001:react:6000000000000001:react:love:1718000600000"
            ),
        },
    ),
    (
        "echo",
        {
            "direction": Direction.OUTBOUND,
            "origin": Origin.BRAND_VIA_NATIVE_APP,
            "thread_key": f"{PAGE}:6000000000000001",
            "author_external_id": PAGE,
            "client_ref": "crm:out:7f3c",
            "external_message_id": "m_Out002",
            "idempotency_key": f"msgr:{PAGE}:m_Out002",
        },
    ),
]


@pytest.mark.parametrize(
    ("sample", "expected"), MESSENGER_CASES, ids=[c[0] for c in MESSENGER_CASES]
)
def test_messenger_samples_case(sample: str, expected: dict[str, Any]) -> None:
    assert_fields(only(parse("facebook", sample, PAGE)), expected)


def test_messenger_image_attachment() -> None:
    event = only(parse("facebook", "image", PAGE))
    assert event.text is None
    assert [(a.kind, a.url) for a in event.attachments] == [
        ("image", "https://scontent.example/abc.jpg")
    ]


POST = f"{FEED_PAGE}_122131676912594941"
COMMENT = "122131676912594941_1213590066982748"
FEED_CASES = [
    (
        "comment_top_level",
        {
            "channel": "fb_comment",
            "conversation_kind": "comment_thread",
            "thread_key": f"{FEED_PAGE}:{POST}",
            "external_message_id": COMMENT,
            "parent_external_id": None,
            "root_external_id": POST,
            "author_external_id": "7300000000000001",
            "author_display_name": "Jane Roe",
            "text": "Do you ship to Spain?",
            "idempotency_key": f"fbc:{FEED_PAGE}:{COMMENT}:add",
            "platform_created_at": datetime.fromtimestamp(1742667604, tz=UTC),
        },
    ),
    (
        "comment_reply",
        {
            "parent_external_id": COMMENT,
            "external_message_id": "122131676912594941_1300000000000001",
            "thread_key": f"{FEED_PAGE}:{POST}",
            "author_display_name": "Ann",
        },
    ),
    (
        "comment_edit",
        {
            "event_type": EventType.MESSAGE_EDITED,
            "idempotency_key": f"fbc:{FEED_PAGE}:{COMMENT}:edited:"
            + "d489306716ecf94a29b779625ee22c054b0608ac",
        },
    ),
    (
        "comment_remove",
        {
            "event_type": EventType.MESSAGE_DELETED,
            "author_external_id": None,
            "idempotency_key": f"fbc:{FEED_PAGE}:{COMMENT}:remove:"
            + "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        },
    ),
]


@pytest.mark.parametrize(("sample", "expected"), FEED_CASES, ids=[c[0] for c in FEED_CASES])
def test_feed_comment_samples_case(sample: str, expected: dict[str, Any]) -> None:
    assert_fields(only(parse("facebook", sample, FEED_PAGE)), expected)


def test_feed_comment_by_the_page_is_an_echo() -> None:
    payload = load_fixture("facebook", "comment_reply")
    payload["entry"][0]["changes"][0]["value"]["from"] = {"id": FEED_PAGE, "name": "Shop"}
    body = json.dumps(payload).encode()
    event = only(get_adapter("facebook").parse(body, {}, account_external_id=FEED_PAGE))
    assert (event.direction, event.origin) == (Direction.OUTBOUND, Origin.BRAND_VIA_NATIVE_APP)


def test_entries_of_another_page_are_ignored() -> None:
    assert parse("facebook", "dm_text", "999") == []


INSTAGRAM_CASES = [
    (
        "dm_text",
        {
            "channel": "ig_dm",
            "thread_key": f"{IG}:1300000000000001",
            "external_message_id": "aWdfZAG1faXRlbToxOklH",
            "text": "Is this in stock?",
            "idempotency_key": f"igdm:{IG}:aWdfZAG1faXRlbToxOklH",
        },
    ),
    (
        "inline_reply",
        {"parent_external_id": "aWdfZAG1faXRlbToxOklH", "external_message_id": "aWdf_2"},
    ),
    ("story_reply", {"parent_external_id": "17900000000000001", "text": "love it"}),
    (
        "delete",
        {
            "event_type": EventType.MESSAGE_DELETED,
            "idempotency_key": f"igdm:{IG}:aWdfZAG1faXRlbToxOklH:deleted",
        },
    ),
    (
        "edit",
        {
            "event_type": EventType.MESSAGE_EDITED,
            "edit_seq": 1,
            "idempotency_key": f"igdm:{IG}:aWdfZAG1faXRlbToxOklH:edit:1",
        },
    ),
    (
        "seen",
        {
            "event_type": EventType.RECEIPT_READ,
            "external_message_id": "aWdf_out_1",
            "idempotency_key": f"igdm:{IG}:aWdf_out_1:seen:1300000000000001",
        },
    ),
    (
        "echo",
        {
            "direction": Direction.OUTBOUND,
            "thread_key": f"{IG}:1300000000000001",
            "idempotency_key": f"igdm:{IG}:aWdf_out_2",
        },
    ),
    (
        "comment_ig_login",
        {
            "channel": "ig_comment",
            "conversation_kind": "comment_thread",
            "thread_key": f"{IG}:17900000000000002",
            "external_message_id": "17865799348089039",
            "root_external_id": "17900000000000002",
            "parent_external_id": None,
            "author_handle": "jane.r",
            "text": "Price?",
            "idempotency_key": f"igc:{IG}:17865799348089039",
        },
    ),
    (
        "comment_reply_fb_login",
        {
            "external_message_id": "17865799348089040",
            "parent_external_id": "17865799348089039",
            "thread_key": f"{IG}:17900000000000002",
            "author_external_id": "1300000000000002",
        },
    ),
]


@pytest.mark.parametrize(
    ("sample", "expected"), INSTAGRAM_CASES, ids=[c[0] for c in INSTAGRAM_CASES]
)
def test_instagram_samples_case(sample: str, expected: dict[str, Any]) -> None:
    assert_fields(only(parse("instagram", sample, IG)), expected)


def test_instagram_attachment() -> None:
    event = only(parse("instagram", "attachment", IG))
    assert [(a.kind, a.url) for a in event.attachments] == [
        ("image", "https://lookaside.example/img")
    ]


def test_instagram_mention() -> None:
    event = only(parse("instagram", "mention", "17841405726653026"))
    assert_fields(
        event,
        {
            "conversation_kind": "mention",
            "external_message_id": "17894227972186120",
            "root_external_id": "17918195224117851",
            "thread_key": "17841405726653026:17918195224117851",
            "idempotency_key": "igm:17841405726653026:17894227972186120",
            "platform_created_at": datetime.fromtimestamp(1520622968, tz=UTC),
        },
    )


WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


def test_whatsapp_text() -> None:
    assert_fields(
        only(parse("whatsapp", "text", PNID)),
        {
            "channel": "whatsapp",
            "thread_key": f"{PNID}:16505551234",
            "external_message_id": WAMID,
            "author_external_id": "16505551234",
            "author_display_name": "Sheena Nelson",
            "text": "Does it come in another color?",
            "idempotency_key": f"wa:{PNID}:{WAMID}",
            "platform_created_at": datetime.fromtimestamp(1749416383, tz=UTC),
        },
    )


def test_whatsapp_image() -> None:
    event = only(parse("whatsapp", "image", PNID))
    attachment = only_attachment(event)
    assert (event.text, attachment.kind, attachment.platform_media_id, attachment.mime) == (
        "Taj Mahal",
        "image",
        "1003383421387256",
        "image/jpeg",
    )
    assert attachment.sha256 == "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="


def only_attachment(event: NormalizedEvent) -> Any:
    assert len(event.attachments) == 1
    return event.attachments[0]


def test_whatsapp_statuses() -> None:
    read = only(parse("whatsapp", "status_read", PNID))
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    assert_fields(
        read,
        {
            "event_type": EventType.RECEIPT_READ,
            "status": "read",
            "external_message_id": wamid,
            "thread_key": f"{PNID}:16505551234",
            "idempotency_key": f"wa:{PNID}:{wamid}:status:read",
        },
    )
    failed = only(parse("whatsapp", "status_failed", PNID))
    assert (failed.event_type, failed.error_code, failed.idempotency_key) == (
        EventType.STATUS_FAILED,
        "131047",
        f"wa:{PNID}:wamid.XYZ:status:failed",
    )
    assert failed.error_detail is not None
    assert "24 hours" in failed.error_detail


def test_x_dm() -> None:
    assert_fields(
        only(parse("x", "dm", "4337869213")),
        {
            "channel": "x_dm",
            "thread_key": "4337869213:3001969357-4337869213",
            "external_message_id": "954491830116155396",
            "author_external_id": "3001969357",
            "author_handle": "furiouscamper",
            "author_display_name": "Jordan",
            "text": "Hello World!",
            "idempotency_key": "xdm:4337869213:954491830116155396",
            "platform_created_at": datetime.fromtimestamp(1516403560.557, tz=UTC),
        },
    )


def test_x_mention_reply() -> None:
    assert_fields(
        only(parse("x", "mention_reply", "2244994945")),
        {
            "channel": "x_post",
            "conversation_kind": "comment_thread",
            "thread_key": "2244994945:1799999999999999999",
            "parent_external_id": "1799999999999999999",
            "external_message_id": "1800000000000000001",
            "author_handle": "furiouscamper",
            "idempotency_key": "xp:2244994945:1800000000000000001",
        },
    )


def test_x_delete_and_read() -> None:
    deleted = only(parse("x", "delete", "930524282358325248"))
    assert (deleted.event_type, deleted.idempotency_key) == (
        EventType.MESSAGE_DELETED,
        "xp:930524282358325248:1045405559317569537:deleted",
    )
    read = only(parse("x", "dm_read", "4337869213"))
    assert read.idempotency_key == "xdm:4337869213:199566737:read:963085315333238788"


BOT = "7000000001"


def test_telegram_message_photo_and_edit() -> None:
    message = only(parse("telegram", "message", BOT))
    assert_fields(
        message,
        {
            "thread_key": f"{BOT}:123456789",
            "external_message_id": "123456789:42",
            "author_handle": "janer",
            "author_display_name": "Jane",
            "idempotency_key": f"tg:{BOT}:123456789:42",
        },
    )
    photo = only(parse("telegram", "photo_reply", BOT))
    assert photo.parent_external_id == "123456789:41"
    assert photo.text == "this one"
    assert [(a.platform_media_id, a.size) for a in photo.attachments] == [("AgAC…large", 98000)]
    edit = only(parse("telegram", "edit", BOT))
    assert_fields(
        edit,
        {
            "event_type": EventType.MESSAGE_EDITED,
            "edit_seq": 1718000200,
            "idempotency_key": f"tg:{BOT}:123456789:42:edit:1718000200",
        },
    )


def test_youtube_thread() -> None:
    top, reply = parse("youtube", "thread", "UCbrand")
    assert_fields(
        top,
        {
            "thread_key": "UCbrand:dQw4w9WgXcQ",
            "external_message_id": "UgzAbc123",
            "author_external_id": "UCjane",
            "author_handle": "@jane",
            "direction": Direction.INBOUND,
            "idempotency_key": "yt:UgzAbc123:2024-06-10T10:00:00Z",
        },
    )
    assert_fields(
        reply,
        {
            "parent_external_id": "UgzAbc123",
            "direction": Direction.OUTBOUND,
            "text": "Link in bio",
            "idempotency_key": "yt:UgzAbc123.9xyz:2024-06-10T11:00:00Z",
        },
    )


def test_batched_entries_all_parse() -> None:
    first = load_fixture("facebook", "dm_text")
    second = load_fixture("facebook", "reaction")
    first["entry"] += second["entry"]
    events = get_adapter("facebook").parse(json.dumps(first).encode(), {}, account_external_id=PAGE)
    assert [e.event_type for e in events] == [EventType.MESSAGE_CREATED, EventType.REACTION_ADDED]


def test_unknown_event_types_are_skipped() -> None:
    payload = load_fixture("facebook", "dm_text")
    payload["entry"][0]["messaging"].append(
        {"sender": {"id": "1"}, "recipient": {"id": PAGE}, "timestamp": 1, "optin": {}}
    )
    events = get_adapter("facebook").parse(
        json.dumps(payload).encode(), {}, account_external_id=PAGE
    )
    assert len(events) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object":"page"}',
        b'{"object":"page","entry":[{"id":"104000000000001","messaging":[{"message":{}}]}]}',
    ],
    ids=["not_json_case", "array_case", "no_entry_case", "message_without_ids_case"],
)
def test_structurally_invalid_bodies_raise_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        get_adapter("facebook").parse(body, {}, account_external_id=PAGE)
