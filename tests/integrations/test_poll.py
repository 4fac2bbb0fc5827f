"""poll() pages through the emulated getUpdates and commentThreads APIs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.adapters import PolicyError, RateLimited, get_adapter
from integrations.emulator.client import EmulatorClient
from integrations.emulator.scenarios import telegram_message, youtube_comment, youtube_thread


def poll(
    platform: str,
    cursor: dict[str, Any] | None,
    emu: EmulatorClient,
    creds: dict[str, Any],
    http: httpx.Client,
) -> Any:
    account, credentials = creds[platform]
    return get_adapter(platform).poll(
        http,
        base_url=emu.base_url,
        credentials=credentials,
        account_external_id=account,
        cursor=cursor,
    )


def test_telegram_get_updates_offset_confirms(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    bot = creds["telegram"][0]
    updates = [telegram_message(0, 123456789, 40 + n, f"message {n} 😀") for n in range(150)]
    for update in updates:
        del update["update_id"]  # Let the emulator number them, as Telegram does.
    ids = emu.queue_telegram_updates(bot, updates)
    first = poll("telegram", None, emu, creds, http)
    assert len(first.raw_items) == 100
    assert first.next_cursor == {"offset": ids[99] + 1}
    assert first.quota_used == 0
    request = emu.last_request("telegram")
    assert request["body"]["allowed_updates"][-2:] == [
        "message_reaction",
        "deleted_business_messages",
    ]
    # Without the new offset the same updates come back: nothing was confirmed.
    again = poll("telegram", None, emu, creds, http)
    assert again.raw_items[0] == first.raw_items[0]
    second = poll("telegram", first.next_cursor, emu, creds, http)
    assert len(second.raw_items) == 50
    third = poll("telegram", second.next_cursor, emu, creds, http)
    assert third.raw_items == []
    assert third.next_cursor == second.next_cursor
    events = [
        event
        for raw in first.raw_items + second.raw_items
        for event in get_adapter("telegram").parse(raw, {}, account_external_id=bot)
    ]
    assert len({e.idempotency_key for e in events}) == 150


def test_telegram_get_updates_conflicts_with_a_webhook(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    token = creds["telegram"][1]["bot_token"]
    http.post(f"{emu.base_url}/bot{token}/setWebhook", json={"url": "https://example.com/hook"})
    with pytest.raises(PolicyError) as raised:
        poll("telegram", None, emu, creds, http)
    assert raised.value.code == "409"


def test_telegram_poll_rate_limit(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.set_fault("telegram", "rate_limit", retry_after=35)
    with pytest.raises(RateLimited) as raised:
        poll("telegram", None, emu, creds, http)
    assert raised.value.retry_after_seconds == 35


def _threads(count: int, *, replies: int = 0) -> list[dict[str, Any]]:
    threads = []
    for n in range(count):
        tid = f"Ugz{n:05d}"
        published = f"2024-06-{1 + n // 24:02d}T{n % 24:02d}:00:00Z"
        top = youtube_comment(
            tid,
            f"Commentaire {n} 🎬",
            author_channel=f"UCfan{n}",
            author_name=f"@fan{n}",
            published=published,
            video_id="vid1",
        )
        reply_list = [
            youtube_comment(
                f"{tid}.r{r}",
                f"reply {r}",
                author_channel="UCbrand",
                author_name="@brand",
                published=published.replace(":00:00Z", f":{r + 1:02d}:00Z"),
                parent_id=tid,
            )
            for r in range(replies)
        ]
        threads.append(youtube_thread(tid, "UCbrand", "vid1", top, reply_list))
    return threads


def test_youtube_pages_through_threads_and_counts_quota(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.queue_youtube_threads("UCbrand", _threads(230))
    cursor: dict[str, Any] | None = None
    pages, quota = [], 0
    for _ in range(5):
        page = poll("youtube", cursor, emu, creds, http)
        pages.append(page)
        quota += page.quota_used
        cursor = page.next_cursor
        if cursor["page_token"] is None:
            break
    assert [len(p.raw_items) for p in pages] == [100, 100, 30]
    assert quota == 3 == emu.youtube_quota()["used"]
    assert cursor is not None
    assert cursor["watermark"] == "2024-06-10T13:00:00Z"
    request = emu.last_request("youtube")
    assert request["query"]["allThreadsRelatedToChannelId"] == "UCbrand"
    assert request["query"]["order"] == "time"
    assert request["headers"]["authorization"] == "Bearer ya29.test-token"
    # Next run: the first page shows nothing newer than the watermark, so it stops there.
    again = poll("youtube", cursor, emu, creds, http)
    assert again.next_cursor["page_token"] is None
    assert again.next_cursor["watermark"] == cursor["watermark"]


def test_youtube_completes_long_reply_lists(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.queue_youtube_threads("UCbrand", _threads(1, replies=12))
    page = poll("youtube", None, emu, creds, http)
    assert page.quota_used == 2  # commentThreads.list + one comments.list page.
    events = get_adapter("youtube").parse(page.raw_items[0], {}, account_external_id="UCbrand")
    assert len(events) == 13
    assert {e.direction for e in events[1:]} == {"outbound"}


def test_youtube_edit_is_a_new_event(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    [thread] = _threads(1)
    emu.queue_youtube_threads("UCbrand", [thread])
    before = poll("youtube", None, emu, creds, http)
    thread["snippet"]["topLevelComment"]["snippet"]["updatedAt"] = "2024-06-02T00:00:00Z"
    emu.queue_youtube_threads("UCbrand", [thread])
    after = poll("youtube", None, emu, creds, http)
    adapter = get_adapter("youtube")
    [created] = adapter.parse(before.raw_items[0], {}, account_external_id="UCbrand")
    [edited] = adapter.parse(after.raw_items[0], {}, account_external_id="UCbrand")
    assert (created.event_type, edited.event_type) == ("message.created", "message.edited")
    assert created.idempotency_key != edited.idempotency_key


def test_youtube_api_key_polling(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.queue_youtube_threads("UCbrand", _threads(3))
    page = get_adapter("youtube").poll(
        http,
        base_url=emu.base_url,
        credentials={"api_key": creds["youtube"][1]["api_key"]},
        account_external_id="UCbrand",
        cursor=None,
    )
    assert len(page.raw_items) == 3
    assert emu.last_request("youtube")["query"]["key"] == "AIza-test-key"
