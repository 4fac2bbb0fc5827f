"""history() pages through each platform's read APIs on the emulator (backfill).

No database: the adapters talk real HTTP to the emulator, and what they return is parsed
by the same ``parse`` as webhooks, so a backfilled item must carry the thread key and
idempotency key of the same item delivered by webhook (or by polling, for YouTube).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from integrations.adapters import (
    AuthError,
    HistoryUnavailable,
    NormalizedEvent,
    PolicyError,
    PollResult,
    RateLimited,
    TransientError,
    get_adapter,
)
from integrations.emulator.client import EmulatorClient
from integrations.emulator.scenarios import (
    BASE_MS,
    facebook_api_comment,
    facebook_history,
    facebook_post,
    feed_comment,
    graph_conversation,
    graph_message,
    instagram_api_comment,
    instagram_comment,
    instagram_dm,
    instagram_envelope,
    instagram_history,
    instagram_media,
    messenger_echo,
    messenger_message,
    page_envelope,
    youtube_history,
)

NEWEST = BASE_MS / 1000
HOUR = 3600.0


def history(
    platform: str,
    cursor: dict[str, Any] | None,
    emu: EmulatorClient,
    creds: dict[str, Any],
    http: httpx.Client,
    *,
    since: datetime | None = None,
) -> PollResult:
    account, credentials = creds[platform]
    return get_adapter(platform).history(
        http,
        base_url=emu.base_url,
        credentials=credentials,
        account_external_id=account,
        cursor=cursor,
        since=since,
    )


def walk(
    platform: str,
    emu: EmulatorClient,
    creds: dict[str, Any],
    http: httpx.Client,
    *,
    since: datetime | None = None,
    max_pages: int = 50,
) -> tuple[list[PollResult], list[dict[str, Any] | None]]:
    """Every page of a backfill, and the cursor each page was fetched with."""
    cursor: dict[str, Any] | None = None
    pages, cursors = [], []
    for _ in range(max_pages):
        cursors.append(cursor)
        page = history(platform, cursor, emu, creds, http, since=since)
        # The cursor is stored in a JSON column between steps.
        assert json.loads(json.dumps(page.next_cursor)) == page.next_cursor
        pages.append(page)
        if page.next_cursor == {}:
            return pages, cursors
        cursor = page.next_cursor
    raise AssertionError("history never ended")


def events_of(platform: str, account: str, pages: list[PollResult]) -> list[NormalizedEvent]:
    adapter = get_adapter(platform)
    return [
        event
        for page in pages
        for raw in page.raw_items
        for event in adapter.parse(raw, {}, account_external_id=account)
    ]


def by_id(events: list[NormalizedEvent]) -> dict[str, NormalizedEvent]:
    found: dict[str, NormalizedEvent] = {}
    for event in events:
        assert event.external_message_id is not None
        found[event.external_message_id] = event
    return found


def graph_gets(emu: EmulatorClient, platform: str) -> list[dict[str, Any]]:
    return [r for r in emu.requests(platform) if r["method"] == "GET"]


SAME = (
    "channel",
    "account_external_id",
    "event_type",
    "direction",
    "origin",
    "conversation_kind",
    "thread_key",
    "idempotency_key",
    "external_message_id",
    "parent_external_id",
    "root_external_id",
    "author_external_id",
    "text",
)


def assert_same_event(webhook: NormalizedEvent, backfilled: NormalizedEvent) -> None:
    for name in SAME:
        assert getattr(backfilled, name) == getattr(webhook, name), name


# Facebook ---------------------------------------------------------------------------------
def test_facebook_history_walks_the_feed_then_messenger(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    page_id = creds["facebook"][0]
    made = facebook_history(page_id, posts=30, conversations=30)
    assert emu.queue_facebook_feed(page_id, made.threads) == 30
    assert emu.queue_facebook_conversations(page_id, made.conversations) == 30

    pages, cursors = walk("facebook", emu, creds, http)

    assert cursors == [
        None,
        {"phase": "feed", "after": pages[0].next_cursor["after"]},
        {"phase": "conversations", "after": None},
        {"phase": "conversations", "after": pages[2].next_cursor["after"]},
    ]
    assert pages[-1].next_cursor == {}
    events = events_of("facebook", page_id, pages)
    comments = [e for e in events if e.channel == "fb_comment"]
    messages = [e for e in events if e.channel == "messenger"]
    assert len(comments) == made.comments
    assert len(messages) == made.messages
    assert len({e.idempotency_key for e in events}) == len(events)
    assert {e.event_type for e in events} == {"message.created"}
    # The Page's own comments and messages come back as echoes of the brand.
    page_comments = [e for e in comments if e.author_external_id == page_id]
    assert page_comments
    assert {(e.direction, e.origin) for e in page_comments} == {
        ("outbound", "brand_via_native_app")
    }
    assert all(e.parent_external_id for e in page_comments)  # Always replies here.
    echoes = [e for e in messages if e.author_external_id == page_id]
    assert len(echoes) == 30
    assert {e.direction for e in echoes} == {"outbound"}
    customers = {f"{page_id}:60000000{n:08d}" for n in range(30)}
    assert {e.thread_key for e in echoes} == {e.thread_key for e in messages} == customers
    # The customer's photo message keeps its attachment; texts keep accents and emoji.
    photos = [e for e in messages if e.attachments]
    assert len(photos) == 30
    assert photos[0].attachments[0].kind == "image"
    assert any("é" in (e.text or "") for e in events)
    # Quota counts the Graph calls; every call carried the Page token.
    gets = graph_gets(emu, "facebook")
    assert sum(p.quota_used for p in pages) == len(gets) == 4
    assert {r["headers"]["authorization"] for r in gets} == {"Bearer EAAG-page-token"}
    feed, conversations = gets[0], gets[2]
    assert feed["path"] == f"/v21.0/{page_id}/feed"
    assert "comments.filter(stream)" in feed["query"]["fields"]
    assert conversations["path"] == f"/v21.0/{page_id}/conversations"
    assert conversations["query"]["platform"] == "messenger"
    assert "messages" in conversations["query"]["fields"]


def test_facebook_history_follows_long_comment_and_message_lists(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    page_id = creds["facebook"][0]
    post_id = f"{page_id}_900"
    comments = [
        facebook_api_comment(
            f"900_{n:04d}",
            f"Commentaire {n} — comment {n}",
            author=(f"7300{n:06d}", "Fan"),
            created=NEWEST + n,
            replies=[
                facebook_api_comment(
                    f"900_{n:04d}_r",
                    "Merci !",
                    author=(page_id, "Maison"),
                    created=NEWEST + n + 0.5,
                )
            ]
            if n % 10 == 0
            else None,
        )
        for n in range(230)
    ]
    emu.queue_facebook_feed(page_id, [facebook_post(post_id, "Soldes !", comments=comments)])
    customer, page = ("6000000000000042", "Léa"), (page_id, "Maison")
    messages = [
        graph_message(
            f"m_long_{n:03d}",
            f"message {n}",
            sender=customer if n % 2 == 0 else page,
            recipient=page if n % 2 == 0 else customer,
            created=NEWEST + n,
        )
        for n in range(150)
    ]
    emu.queue_facebook_conversations(
        page_id, [graph_conversation("t_long", [customer, page], messages)]
    )

    pages, _ = walk("facebook", emu, creds, http)

    events = events_of("facebook", page_id, pages)
    comment_events = [e for e in events if e.channel == "fb_comment"]
    assert len(comment_events) == 230 + 23
    replies = [e for e in comment_events if e.parent_external_id]
    assert len(replies) == 23
    assert all(r.parent_external_id == r.external_message_id[:-2] for r in replies)
    assert {e.thread_key for e in comment_events} == {f"{page_id}:{post_id}"}
    message_events = [e for e in events if e.channel == "messenger"]
    assert [e.external_message_id for e in message_events] == [
        f"m_long_{n:03d}" for n in range(150)
    ]  # Oldest first, across the message pages.
    paths = [r["path"] for r in graph_gets(emu, "facebook")]
    assert paths.count(f"/v21.0/{post_id}/comments") == 2  # 253 flat: 100 inline + 2 pages.
    assert paths.count("/v21.0/t_long/messages") == 1  # 150: 100 inline + 1 page.
    follow = next(r for r in graph_gets(emu, "facebook") if r["path"].endswith("/comments"))
    assert follow["query"]["filter"] == "stream"
    assert follow["query"]["after"]


def test_facebook_webhook_and_history_produce_the_same_keys(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client, receiver: Any
) -> None:
    page_id = creds["facebook"][0]
    post_id = f"{page_id}_122131676912594941"
    top, reply = "122131676912594941_1213590066982748", "122131676912594941_1300000000000001"
    psid, created = "6000000000000001", int(NEWEST)
    hook = receiver("facebook")
    webhooks = [
        page_envelope(
            page_id,
            changes=[
                feed_comment(
                    post_id, top, message="Vous livrez en Espagne ? 🇪🇸", created_time=created
                )
            ],
        ),
        page_envelope(
            page_id,
            changes=[
                feed_comment(
                    post_id,
                    reply,
                    message="Oui, en 3 jours !",
                    parent_id=top,
                    author=(page_id, "Maison Causerie"),
                    created_time=created + 60,
                )
            ],
        ),
        page_envelope(
            page_id,
            messaging=[
                messenger_message(
                    page_id, psid, "m_AbCdEf123", "Hi, is my order shipped?", timestamp_ms=BASE_MS
                )
            ],
        ),
        page_envelope(
            page_id,
            messaging=[
                messenger_echo(
                    page_id, psid, "m_Out002", "Yes, shipped today.", timestamp_ms=BASE_MS + 60_000
                )
            ],
        ),
    ]
    for body in webhooks:
        assert emu.deliver("facebook", hook.url, body, account=page_id)["status"] == 200
    emu.queue_facebook_feed(
        page_id,
        [
            facebook_post(
                post_id,
                "Nouvelle collection",
                created=created - 600,
                comments=[
                    facebook_api_comment(
                        top,
                        "Vous livrez en Espagne ? 🇪🇸",
                        created=created,
                        replies=[
                            facebook_api_comment(
                                reply,
                                "Oui, en 3 jours !",
                                author=(page_id, "Maison Causerie"),
                                created=created + 60,
                            )
                        ],
                    )
                ],
            )
        ],
    )
    customer, page = (psid, "Jane Roe"), (page_id, "Maison Causerie")
    emu.queue_facebook_conversations(
        page_id,
        [
            graph_conversation(
                "t_100000000001",
                [customer, page],
                [
                    graph_message(
                        "m_AbCdEf123",
                        "Hi, is my order shipped?",
                        sender=customer,
                        recipient=page,
                        created=NEWEST,
                    ),
                    graph_message(
                        "m_Out002",
                        "Yes, shipped today.",
                        sender=page,
                        recipient=customer,
                        created=NEWEST + 60,
                    ),
                ],
            )
        ],
    )

    pages, _ = walk("facebook", emu, creds, http)

    pushed = by_id(hook.events)
    pulled = by_id(events_of("facebook", page_id, pages))
    assert set(pulled) == set(pushed) == {top, reply, "m_AbCdEf123", "m_Out002"}
    for external_id, event in pushed.items():
        assert_same_event(event, pulled[external_id])
    assert pulled[top].idempotency_key == f"fbc:{page_id}:{top}:add"
    assert pulled[top].parent_external_id is None
    assert pulled[reply].parent_external_id == top
    assert pulled["m_Out002"].idempotency_key == f"msgr:{page_id}:m_Out002"
    assert pulled["m_Out002"].thread_key == f"{page_id}:{psid}"
    assert pulled["m_Out002"].platform_created_at == pushed["m_Out002"].platform_created_at


def test_facebook_history_honours_since(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    page_id = creds["facebook"][0]
    made = facebook_history(page_id, posts=30, conversations=30)
    emu.queue_facebook_feed(page_id, made.threads)
    emu.queue_facebook_conversations(page_id, made.conversations)
    since = datetime.fromtimestamp(NEWEST - 10.5 * HOUR, tz=UTC)

    pages, _ = walk("facebook", emu, creds, http, since=since)

    events = events_of("facebook", page_id, pages)
    assert events
    assert all(e.platform_created_at >= since for e in events)
    expected_comments = sum(
        1 + len(c.get("comments", [])) for post in made.threads[:11] for c in post["comments"]
    )
    assert len([e for e in events if e.channel == "fb_comment"]) == expected_comments
    assert len([e for e in events if e.channel == "messenger"]) == 11 * 3
    assert {e.root_external_id for e in events if e.root_external_id} == {
        p["id"] for p in made.threads[:11]
    }
    # One page of each list: the feed was asked from ``since``, Messenger stopped there.
    assert len(pages) == 2
    feed = graph_gets(emu, "facebook")[0]
    assert feed["query"]["since"] == str(int(since.timestamp()))


# Instagram --------------------------------------------------------------------------------
def test_instagram_history_walks_media_comments_then_dms(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    ig_id = creds["instagram"][0]
    made = instagram_history(ig_id, media=30, conversations=30)
    long_replies = [
        instagram_api_comment(
            f"1788{r:011d}",
            f"@jane.r moi aussi {r}",
            author=(f"13000009{r:05d}", "fan"),
            created=NEWEST + 100 + r,
        )
        for r in range(40)
    ]
    made.comments += 40 - len(made.threads[0]["comments"][0].get("replies", []))
    made.threads[0]["comments"][0]["replies"] = long_replies
    emu.queue_instagram_media(ig_id, made.threads)
    emu.queue_instagram_conversations(ig_id, made.conversations)

    pages, cursors = walk("instagram", emu, creds, http)

    assert [c and c["phase"] for c in cursors] == [None, "media", "conversations", "conversations"]
    events = events_of("instagram", ig_id, pages)
    comments = [e for e in events if e.channel == "ig_comment"]
    dms = [e for e in events if e.channel == "ig_dm"]
    assert len(comments) == made.comments
    assert len(dms) == made.messages
    assert len({e.idempotency_key for e in events}) == len(events)
    first_media = made.threads[0]["id"]
    assert {e.thread_key for e in comments if e.root_external_id == first_media} == {
        f"{ig_id}:{first_media}"
    }
    brand = [e for e in comments if e.author_external_id == ig_id]
    assert brand
    assert {e.direction for e in brand} == {"outbound"}
    assert all(e.parent_external_id for e in brand)
    assert {e.author_handle for e in comments} >= {"jane.r", "maison.causerie"}
    echoes = [e for e in dms if e.author_external_id == ig_id]
    assert len(echoes) == 30
    assert {e.direction for e in echoes} == {"outbound"}
    gets = graph_gets(emu, "instagram")
    assert sum(p.quota_used for p in pages) == len(gets)
    paths = [r["path"] for r in gets]
    assert paths[0] == f"/v21.0/{ig_id}/media"
    assert paths.count(f"/v21.0/{made.threads[0]['comments'][0]['id']}/replies") == 1
    conversations = next(r for r in gets if r["path"].endswith("/conversations"))
    assert conversations["query"]["platform"] == "instagram"
    assert {r["headers"]["authorization"] for r in gets} == {"Bearer IGAA-token"}


def test_instagram_webhook_and_history_produce_the_same_keys(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client, receiver: Any
) -> None:
    ig_id = creds["instagram"][0]
    media_id, top, reply = "17900000000000002", "17865799348089039", "17865799348089040"
    igsid = "1300000000000001"
    hook = receiver("instagram")
    webhooks = [
        instagram_envelope(
            ig_id, changes=[instagram_comment(top, media_id, "Prix ? 💸")], time_ms=BASE_MS // 1000
        ),
        instagram_envelope(
            ig_id,
            changes=[
                instagram_comment(
                    reply,
                    media_id,
                    "@jane.r 49 €, DM us!",
                    author=(ig_id, "maison.causerie"),
                    parent_id=top,
                )
            ],
            time_ms=BASE_MS // 1000 + 30,  # Comment entries carry epoch seconds.
        ),
        instagram_envelope(
            ig_id, messaging=[instagram_dm(ig_id, igsid, "aWdfZAG1faXRlbToxOklH", "In stock?")]
        ),
        instagram_envelope(
            ig_id,
            messaging=[
                instagram_dm(
                    ig_id, igsid, "aWdf_out_2", "Yes, size M!", echo=True, timestamp_ms=BASE_MS + 1
                )
            ],
        ),
    ]
    for body in webhooks:
        assert emu.deliver("instagram", hook.url, body, account=ig_id)["status"] == 200
    emu.queue_instagram_media(
        ig_id,
        [
            instagram_media(
                media_id,
                "Nouvelle robe 👗",
                comments=[
                    instagram_api_comment(
                        top,
                        "Prix ? 💸",
                        replies=[
                            instagram_api_comment(
                                reply,
                                "@jane.r 49 €, DM us!",
                                author=(ig_id, "maison.causerie"),
                                created=NEWEST + 30,
                            )
                        ],
                    )
                ],
            )
        ],
    )
    customer, brand = (igsid, "jane.r"), (ig_id, "maison.causerie")
    emu.queue_instagram_conversations(
        ig_id,
        [
            graph_conversation(
                "aWdf_t_1",
                [customer, brand],
                [
                    graph_message(
                        "aWdfZAG1faXRlbToxOklH",
                        "In stock?",
                        sender=customer,
                        recipient=brand,
                        handle_key="username",
                    ),
                    graph_message(
                        "aWdf_out_2",
                        "Yes, size M!",
                        sender=brand,
                        recipient=customer,
                        created=NEWEST + 60,
                        handle_key="username",
                    ),
                ],
                handle_key="username",
            )
        ],
    )

    pages, _ = walk("instagram", emu, creds, http)

    pushed = by_id(hook.events)
    pulled = by_id(events_of("instagram", ig_id, pages))
    assert set(pulled) == set(pushed) == {top, reply, "aWdfZAG1faXRlbToxOklH", "aWdf_out_2"}
    for external_id, event in pushed.items():
        assert_same_event(event, pulled[external_id])
    assert pulled[top].idempotency_key == f"igc:{ig_id}:{top}"
    assert pulled[top].author_handle == "jane.r"
    assert pulled[reply].parent_external_id == top
    assert pulled["aWdf_out_2"].idempotency_key == f"igdm:{ig_id}:aWdf_out_2"


def test_instagram_history_honours_since(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    ig_id = creds["instagram"][0]
    made = instagram_history(ig_id, media=30, conversations=30)
    emu.queue_instagram_media(ig_id, made.threads)
    emu.queue_instagram_conversations(ig_id, made.conversations)
    since = datetime.fromtimestamp(NEWEST - 4.5 * HOUR, tz=UTC)

    pages, _ = walk("instagram", emu, creds, http, since=since)

    events = events_of("instagram", ig_id, pages)
    assert all(e.platform_created_at >= since for e in events)
    assert {e.root_external_id for e in events if e.channel == "ig_comment"} == {
        m["id"] for m in made.threads[:5]
    }
    assert len([e for e in events if e.channel == "ig_dm"]) == 5 * 2
    assert graph_gets(emu, "instagram")[0]["query"]["since"] == str(int(since.timestamp()))


# YouTube ----------------------------------------------------------------------------------
def test_youtube_history_pages_threads_with_quota(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    channel = creds["youtube"][0]
    made = youtube_history(channel, threads=150)
    emu.queue_youtube_threads(channel, made.threads)

    pages, cursors = walk("youtube", emu, creds, http)

    assert [len(p.raw_items) for p in pages] == [100, 50]
    assert cursors[1] == {"page_token": pages[0].next_cursor["page_token"]}
    assert sum(p.quota_used for p in pages) == 2 == emu.youtube_quota()["used"]
    events = events_of("youtube", channel, pages)
    assert len(events) == made.comments
    brand = [e for e in events if e.author_external_id == channel]
    assert len(brand) == 50
    assert {e.direction for e in brand} == {"outbound"}
    # The same threads polled give the same keys: ingest dedupes poll and backfill.
    polled = get_adapter("youtube").poll(
        http,
        base_url=emu.base_url,
        credentials=creds["youtube"][1],
        account_external_id=channel,
        cursor=None,
    )
    polled_events = by_id(events_of("youtube", channel, [polled]))
    pulled = by_id(events)
    for external_id, event in polled_events.items():
        assert_same_event(event, pulled[external_id])


def test_youtube_history_honours_since(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    channel = creds["youtube"][0]
    made = youtube_history(channel, threads=250)
    emu.queue_youtube_threads(channel, made.threads)
    since = datetime.fromtimestamp(NEWEST - 39.5 * HOUR, tz=UTC)

    pages, _ = walk("youtube", emu, creds, http, since=since)

    # Page 1 holds the 40 recent threads; page 2 is wholly older and ends the walk early.
    assert [len(p.raw_items) for p in pages] == [40, 0]
    assert pages[-1].next_cursor == {}
    assert emu.youtube_quota()["used"] == 2
    events = events_of("youtube", channel, pages)
    assert all(e.platform_created_at >= since for e in events)


# Errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_graph_history_errors_map_like_send(
    platform: str, emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.set_fault(platform, "rate_limit", retry_after=300)
    with pytest.raises(RateLimited) as limited:
        history(platform, None, emu, creds, http)
    assert limited.value.retry_after_seconds == 300
    emu.set_fault(platform, "server_error")
    with pytest.raises(TransientError):
        history(platform, None, emu, creds, http)
    emu.set_fault(platform, "auth")
    with pytest.raises(AuthError) as refused:
        history(platform, {"phase": "conversations", "after": None}, emu, creds, http)
    assert refused.value.code == "190"
    account, credentials = creds[platform]
    wrong = {k: "not-a-token" if "token" in k else v for k, v in credentials.items()}
    with pytest.raises(AuthError):
        get_adapter(platform).history(
            http,
            base_url=emu.base_url,
            credentials=wrong,
            account_external_id=account,
            cursor=None,
            since=None,
        )


def test_a_failed_history_step_is_retried_from_the_same_cursor(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    page_id = creds["facebook"][0]
    made = facebook_history(page_id, posts=30, conversations=0)
    emu.queue_facebook_feed(page_id, made.threads)
    first = history("facebook", None, emu, creds, http)
    emu.set_fault("facebook", "server_error")
    with pytest.raises(TransientError):
        history("facebook", first.next_cursor, emu, creds, http)
    again = history("facebook", first.next_cursor, emu, creds, http)
    assert again.next_cursor == {"phase": "conversations", "after": None}
    events = events_of("facebook", page_id, [first, again])
    assert len(events) == len({e.idempotency_key for e in events}) == made.comments


def test_graph_history_refuses_an_unreadable_cursor(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    with pytest.raises(PolicyError) as raised:
        history("facebook", {"phase": "feed", "after": "%%%"}, emu, creds, http)
    assert raised.value.code == "100"


def test_youtube_history_quota_exhausted_waits_for_the_reset(
    emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    emu.queue_youtube_threads(creds["youtube"][0], youtube_history("UCbrand", threads=3).threads)
    emu.youtube_quota(limit=0)
    with pytest.raises(RateLimited) as raised:
        history("youtube", None, emu, creds, http)
    assert raised.value.code == "quotaExceeded"
    assert 0 < (raised.value.retry_after_seconds or 0) <= 86_400


# Platforms without history --------------------------------------------------------------
@pytest.mark.parametrize("platform", ["whatsapp", "x", "telegram", "email", "api"])
def test_platforms_without_a_history_api_say_so(
    platform: str, emu: EmulatorClient, creds: dict[str, Any], http: httpx.Client
) -> None:
    adapter = get_adapter(platform)
    assert adapter.supports_history is False
    with pytest.raises(HistoryUnavailable) as raised:
        history(platform, None, emu, creds, http)
    assert raised.value.code == "history_unavailable"
    assert platform in raised.value.message
    assert not raised.value.retryable
    assert emu.requests(platform) == []


@pytest.mark.parametrize("platform", ["facebook", "instagram", "youtube"])
def test_platforms_with_history_declare_it(platform: str) -> None:
    assert get_adapter(platform).supports_history is True
