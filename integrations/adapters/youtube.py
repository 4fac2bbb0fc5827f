"""YouTube Data API v3 comments, by polling (CHANNELS.md §7).

YouTube pushes no comment webhooks, so ``poll`` pages through
``commentThreads.list?allThreadsRelatedToChannelId=…&order=time`` (1 quota unit a call),
completes threads whose ``replies`` subset is short with ``comments.list?parentId=…``
(1 unit a page) and returns each thread as one raw item; ``parse`` turns a thread into
one event per comment. An edit shows as ``updatedAt > publishedAt``; the idempotency key
``yt:{comment_id}:{updatedAt}`` makes each version one event. Replies go through
``comments.insert`` and new top-level comments through ``commentThreads.insert`` (50 units
each, OAuth bearer token).

Cursor: ``{"page_token", "watermark", "newest"}``. A run pages from the newest thread down
until a page shows no activity newer than the ``watermark`` of the previous run (kept as
overlap: pagination over a moving list can repeat items, idempotency keys absorb them),
then the next run starts from the first page again with the new watermark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from . import _http
from ._payload import as_dict, from_iso, load_object, opt_dict, opt_list, opt_str, req_str
from .base import (
    Adapter,
    AuthError,
    Channel,
    ConversationKind,
    Direction,
    EventType,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PayloadError,
    PolicyError,
    PollResult,
    RateLimited,
    SendResult,
    TransientError,
)

API_PREFIX = "/youtube/v3"
# Quota resets at midnight Pacific time (CHANNELS.md §7(g)).
_QUOTA_TZ = ZoneInfo("America/Los_Angeles")
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    """Seconds from ``now`` to the next midnight in Pacific time."""
    current = (now or datetime.now(tz=UTC)).astimezone(_QUOTA_TZ)
    midnight = (current + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - current).total_seconds()


def _comment_event(
    comment: dict[str, Any], *, channel: str, video_id: str, parent: str | None, where: str
) -> NormalizedEvent:
    comment_id = req_str(comment, "id", where)
    snippet = as_dict(comment.get("snippet"), f"{where}.snippet")
    published_raw = snippet.get("publishedAt")
    updated_raw = snippet.get("updatedAt", published_raw)
    published = from_iso(published_raw, f"{where}.snippet.publishedAt")
    updated = from_iso(updated_raw, f"{where}.snippet.updatedAt")
    edited = updated > published
    author = opt_str(opt_dict(snippet, "authorChannelId", where), "value")
    name = opt_str(snippet, "authorDisplayName")
    from_brand = author == channel
    return NormalizedEvent(
        channel=Channel.YOUTUBE,
        account_external_id=channel,
        event_type=EventType.MESSAGE_EDITED if edited else EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if from_brand else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_brand else Origin.CUSTOMER,
        conversation_kind=ConversationKind.COMMENT_THREAD,
        thread_key=f"{channel}:{video_id}",
        external_message_id=comment_id,
        parent_external_id=opt_str(snippet, "parentId") or parent,
        root_external_id=video_id,
        author_external_id=author,
        author_handle=name if name and name.startswith("@") else None,
        author_display_name=name,
        text=opt_str(snippet, "textOriginal") or opt_str(snippet, "textDisplay"),
        edit_seq=int(updated.timestamp()) if edited else None,
        idempotency_key=f"yt:{comment_id}:{updated_raw}",
        platform_created_at=updated if edited else published,
        platform_ts_raw=str(updated_raw if edited else published_raw),
    )


def _video_of(snippet: Mapping[str, Any], channel: str) -> str:
    # Comments on the channel itself (no video) thread under the channel id.
    return opt_str(snippet, "videoId") or opt_str(snippet, "channelId") or channel


def _activity(thread: Mapping[str, Any]) -> str:
    """The latest publishedAt/updatedAt of a thread and its replies (ISO strings sort)."""
    stamps: list[str] = []
    snippet = thread.get("snippet") if isinstance(thread.get("snippet"), dict) else {}
    comments = [snippet.get("topLevelComment")]
    replies = thread.get("replies") if isinstance(thread.get("replies"), dict) else {}
    comments += replies.get("comments", []) if isinstance(replies.get("comments"), list) else []
    for comment in comments:
        inner = comment.get("snippet") if isinstance(comment, dict) else None
        if isinstance(inner, dict):
            stamps += [
                v for k in ("publishedAt", "updatedAt") if isinstance(v := inner.get(k), str)
            ]
    return max(stamps, default="")


def _raise_for_google_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body = _http.json_body(response)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    errors = error.get("errors") if isinstance(error.get("errors"), list) else []
    reason = next(
        (e.get("reason") for e in errors if isinstance(e, dict) and e.get("reason")), None
    )
    message = str(error.get("message") or response.text[:300])
    code = reason or response.status_code
    if reason in _QUOTA_REASONS:
        raise RateLimited(seconds_until_quota_reset(), code, message)
    if reason in _RATE_REASONS or response.status_code == 429:
        raise RateLimited(_http.retry_after(response.headers), code, message)
    if response.status_code == 401:
        raise AuthError(code, message)
    if response.status_code >= 500 or reason in {"processingFailure", "backendError"}:
        raise TransientError(code, message)
    raise PolicyError(code, message)


def _auth(credentials: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters: the OAuth token when present, else the API key."""
    token = credentials.get("access_token")
    if isinstance(token, str) and token:
        return {"Authorization": f"Bearer {token}"}, {}
    return {}, {"key": _http.require(credentials, "api_key")}


class YouTubeAdapter(Adapter):
    """Comment threads of one YouTube channel."""

    platform = "youtube"
    is_polling = True
    supports_history = True

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """YouTube has no comment webhooks: nothing pushed to us is authentic."""
        return False

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """A ``youtube#commentThread`` (top comment and replies) or one ``youtube#comment``."""
        item = load_object(body)
        channel = account_external_id
        kind = item.get("kind")
        if kind == "youtube#comment":
            snippet = as_dict(item.get("snippet"), "snippet")
            return [
                _comment_event(
                    item,
                    channel=channel,
                    video_id=_video_of(snippet, channel),
                    parent=None,
                    where="comment",
                )
            ]
        if kind != "youtube#commentThread":
            raise PayloadError(f"unsupported kind {kind!r}")
        thread_id = req_str(item, "id", "thread")
        snippet = as_dict(item.get("snippet"), "thread.snippet")
        video_id = _video_of(snippet, channel)
        top = as_dict(snippet.get("topLevelComment"), "thread.snippet.topLevelComment")
        events = [
            _comment_event(
                top, channel=channel, video_id=video_id, parent=None, where="topLevelComment"
            )
        ]
        replies = opt_dict(item, "replies", "thread") or {}
        for n, reply in enumerate(opt_list(replies, "comments", "thread.replies")):
            where = f"replies.comments[{n}]"
            events.append(
                _comment_event(
                    as_dict(reply, where),
                    channel=channel,
                    video_id=video_id,
                    parent=thread_id,
                    where=where,
                )
            )
        return events

    def poll(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
    ) -> PollResult:
        """One page of comment threads, with every reply of each thread."""
        cursor = cursor or {}
        threads, next_token, quota = self._threads_page(
            client, base_url, credentials, account_external_id, cursor.get("page_token")
        )
        watermark = cursor.get("watermark") or ""
        newest = max([cursor.get("newest") or "", *(_activity(t) for t in threads)])
        page_activity = max((_activity(t) for t in threads), default="")
        if next_token and page_activity > watermark:
            next_cursor = {
                "page_token": next_token,
                "watermark": watermark or None,
                "newest": newest,
            }
        else:
            next_cursor = {
                "page_token": None,
                "watermark": newest or watermark or None,
                "newest": None,
            }
        return PollResult(
            raw_items=[json.dumps(t, ensure_ascii=False).encode("utf-8") for t in threads],
            next_cursor=next_cursor,
            quota_used=quota,
        )

    def history(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
        since: datetime | None,
    ) -> PollResult:
        """One page of the polling walk, from the newest thread down to ``since``.

        Cursor: ``{"page_token": <nextPageToken>}``; ``{}`` once the list ends or a page
        holds nothing at or after ``since``. Items are the threads ``poll`` returns (top
        comment and every reply, so the keys are those of polling); a thread is kept when
        any of its comments was published or edited at or after ``since``. ``quota_used``
        counts the units of ``commentThreads.list`` and of any ``comments.list`` pages.
        """
        cursor = cursor or {}
        threads, next_token, quota = self._threads_page(
            client, base_url, credentials, account_external_id, cursor.get("page_token")
        )
        kept = [t for t in threads if since is None or self._active_since(t, since)]
        more = next_token is not None
        if since is not None and threads and not kept:
            more = False  # Newest first: a page wholly older than ``since`` ends the walk.
        return PollResult(
            raw_items=[json.dumps(t, ensure_ascii=False).encode("utf-8") for t in kept],
            next_cursor={"page_token": next_token} if more else {},
            quota_used=quota,
        )

    def _threads_page(
        self,
        client: httpx.Client,
        base_url: str,
        credentials: Mapping[str, Any],
        channel: str,
        page_token: Any,
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One ``commentThreads.list`` page, newest first, every thread's replies completed.

        Returns the threads, the next page token (None on the last page) and the quota
        units spent.
        """
        headers, auth_params = _auth(credentials)
        params: dict[str, Any] = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": channel,
            "order": "time",
            "maxResults": 100,
            "textFormat": "plainText",
            **auth_params,
        }
        if isinstance(page_token, str) and page_token:
            params["pageToken"] = page_token
        page = self._get(
            client, _http.join(base_url, f"{API_PREFIX}/commentThreads"), params, headers
        )
        quota = 1
        threads = (
            [t for t in page.get("items", []) if isinstance(t, dict)]
            if isinstance(page.get("items"), list)
            else []
        )
        for thread in threads:
            quota += self._complete_replies(client, base_url, thread, headers, auth_params)
        next_token = page.get("nextPageToken")
        return threads, next_token if isinstance(next_token, str) and next_token else None, quota

    @staticmethod
    def _active_since(thread: Mapping[str, Any], since: datetime) -> bool:
        """Whether a comment of the thread was published or edited at or after ``since``."""
        latest = _activity(thread)
        try:
            return bool(latest) and from_iso(latest, "thread activity") >= since
        except PayloadError:
            return True  # An unreadable date: keep the thread, parse will judge it.

    def _complete_replies(
        self,
        client: httpx.Client,
        base_url: str,
        thread: dict[str, Any],
        headers: Mapping[str, str],
        auth_params: Mapping[str, str],
    ) -> int:
        """Replace the ``replies`` subset by every reply when it is short; return quota used."""
        snippet = thread.get("snippet") if isinstance(thread.get("snippet"), dict) else {}
        total = snippet.get("totalReplyCount")
        replies = thread.get("replies") if isinstance(thread.get("replies"), dict) else {}
        shown = replies.get("comments") if isinstance(replies.get("comments"), list) else []
        if (
            not isinstance(total, int)
            or total <= len(shown)
            or not isinstance(thread.get("id"), str)
        ):
            return 0
        collected: list[Any] = []
        quota = 0
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "part": "snippet",
                "parentId": thread["id"],
                "maxResults": 100,
                "textFormat": "plainText",
                **auth_params,
            }
            if token:
                params["pageToken"] = token
            page = self._get(
                client, _http.join(base_url, f"{API_PREFIX}/comments"), params, headers
            )
            quota += 1
            items = page.get("items")
            collected += items if isinstance(items, list) else []
            next_token = page.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token:
                break
            token = next_token
        thread["replies"] = {"comments": collected}
        return quota

    @staticmethod
    def _get(
        client: httpx.Client, url: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        response = _http.request(client, "GET", url, params=params, headers=headers)
        _raise_for_google_error(response)
        return _http.json_body(response)

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """``comments.insert`` under the top-level comment, else ``commentThreads.insert``."""
        token = _http.require(credentials, "access_token")  # Writes need OAuth, not an API key.
        if not reply.text:
            raise PolicyError("empty", "YouTube comments carry text")
        if reply.parent_external_id:
            # Replies hang under the top-level comment; a reply id is ``<top-level>.<suffix>``.
            parent = reply.parent_external_id.split(".", 1)[0]
            path = f"{API_PREFIX}/comments"
            body: dict[str, Any] = {"snippet": {"parentId": parent, "textOriginal": reply.text}}
        elif reply.root_external_id:
            path = f"{API_PREFIX}/commentThreads"
            body = {
                "snippet": {
                    "channelId": account_external_id,
                    "videoId": reply.root_external_id,
                    "topLevelComment": {"snippet": {"textOriginal": reply.text}},
                }
            }
        else:
            raise PolicyError("no_target", "a YouTube comment needs a parent comment or a video")
        response = _http.request(
            client,
            "POST",
            _http.join(base_url, path),
            params={"part": "snippet"},
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        _raise_for_google_error(response)
        data = _http.json_body(response)
        return SendResult(external_message_id=str(data.get("id", "")), raw=data)
