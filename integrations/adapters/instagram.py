"""Instagram professional accounts: DMs, comments and replies, mentions (CHANNELS.md §3).

Inbound (``object: "instagram"``): DMs in ``entry[].messaging[]``; comments and mentions
in ``entry[].changes[]`` (Facebook Login) or, for Instagram Login, as ``field``/``value``
directly on the entry — both shapes are accepted, as are ``value.id`` and
``value.comment_id`` for the comment id. Outbound: Send API ``POST /{ig-id}/messages``
(DMs and private replies), ``POST /{comment-id}/replies`` (public replies),
``POST /{media-id}/comments`` (top-level) and ``POST /{ig-id}/mentions`` (answering a
mention on someone else's media). ``base_url`` is ``CAUSERIE_INSTAGRAM_API_URL``
(graph.instagram.com) or the Graph URL for the Facebook Login flavour.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from . import _http, meta
from ._payload import (
    as_dict,
    from_epoch,
    from_iso,
    load_object,
    opt_dict,
    opt_list,
    opt_str,
    req_str,
)
from .base import (
    Channel,
    ConversationKind,
    DeliveryStatus,
    Direction,
    EventType,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PayloadError,
    PolicyError,
    PollResult,
    SendResult,
)
from .facebook import send_api_messages

API_VERSION = meta.GRAPH_VERSION
_COMMENT_FIELDS = frozenset({"comments", "live_comments"})
# History: what is read of media and comments (replies come nested under their comment).
_MEDIA_FIELDS = "id,caption,timestamp,media_product_type,comments_count"
_REPLY_FIELDS = "id,text,timestamp,username,from,parent_id"
_API_COMMENT_FIELDS = f"{_REPLY_FIELDS},replies{{{_REPLY_FIELDS}}}"


def _comment_change(
    comment: Mapping[str, Any],
    *,
    ig_id: str,
    media: Mapping[str, Any],
    parent_id: str | None,
) -> tuple[datetime, dict[str, Any]] | None:
    """A comment read from the Graph API as the ``comments`` change of its webhook."""
    comment_id = opt_str(comment, "id")
    media_id = opt_str(media, "id")
    if not comment_id or not media_id:
        return None
    created = meta.graph_time(comment.get("timestamp"), "comment.timestamp")
    author = opt_dict(comment, "from", "comment") or {}
    sender: dict[str, Any] = {}
    if opt_str(author, "id"):
        sender["id"] = opt_str(author, "id")
    username = opt_str(author, "username") or opt_str(comment, "username")
    if username:
        sender["username"] = username
    value: dict[str, Any] = {
        "id": comment_id,
        "text": opt_str(comment, "text") or "",
        "media": {
            "id": media_id,
            "media_product_type": opt_str(media, "media_product_type") or "FEED",
        },
        "timestamp": int(created.timestamp()),
    }
    if sender:
        value["from"] = sender
    parent = parent_id or opt_str(comment, "parent_id")
    if parent:
        value["parent_id"] = parent
    entry = {
        "id": ig_id,
        "time": value["timestamp"],
        "changes": [{"field": "comments", "value": value}],
    }
    return created, {"object": "instagram", "entry": [entry]}


def _epoch(value: Any, where: str) -> datetime:
    # Messaging timestamps are milliseconds, change ``time`` values seconds; tell them apart
    # by magnitude so either shape of entry works.
    millis = isinstance(value, int | float) and value > 100_000_000_000
    return from_epoch(value, millis=millis, where=where)


def _dm_parent(message: dict[str, Any], where: str) -> str | None:
    # A reply to a story points at the story instead of a message.
    reply_to = opt_dict(message, "reply_to", f"{where}.message") or {}
    story = opt_dict(reply_to, "story", f"{where}.message.reply_to")
    return opt_str(reply_to, "mid") or opt_str(story, "id")


def _dm_event(item: dict[str, Any], *, ig_id: str, where: str) -> NormalizedEvent | None:
    common, _ = meta.messaging_common(item, account_id=ig_id, channel=Channel.IG_DM, where=where)
    event = meta.messaging_event(
        item,
        common,
        prefix=f"igdm:{ig_id}",
        epoch=_epoch,
        parent_of=lambda message: _dm_parent(message, where),
        echo_client_ref=False,
        where=where,
    )
    if event is not None:
        return event
    timestamp = item.get("timestamp")
    sender_id = common["author_external_id"]
    if "read" in item:
        read = as_dict(item["read"], f"{where}.read")
        mid = req_str(read, "mid", f"{where}.read")
        return NormalizedEvent(
            **{**common, "direction": Direction.SYSTEM, "origin": Origin.CUSTOMER},
            event_type=EventType.RECEIPT_READ,
            status=DeliveryStatus.READ,
            external_message_id=mid,
            idempotency_key=f"igdm:{ig_id}:{mid}:seen:{sender_id}",
            platform_created_at=_epoch(timestamp, f"{where}.timestamp"),
            platform_ts_raw=str(timestamp),
        )
    return None


def _comment_event(
    value: dict[str, Any], *, ig_id: str, entry_time: Any, where: str
) -> NormalizedEvent:
    comment_id = opt_str(value, "id") or opt_str(value, "comment_id")
    if not comment_id:
        raise PayloadError(f"{where}: comment id is required")
    media = opt_dict(value, "media", where)
    media_id = opt_str(media, "id") or opt_str(value, "media_id")
    if not media_id:
        raise PayloadError(f"{where}: media.id is required")
    author = opt_dict(value, "from", where)
    author_id = opt_str(author, "id")
    from_brand = author_id == ig_id
    created_raw = value.get("timestamp", entry_time)
    created = (
        from_epoch(created_raw, millis=False, where=where)
        if not isinstance(created_raw, str) or created_raw.isdigit()
        else _iso(created_raw, where)
    )
    return NormalizedEvent(
        channel=Channel.IG_COMMENT,
        account_external_id=ig_id,
        event_type=EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if from_brand else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_brand else Origin.CUSTOMER,
        conversation_kind=ConversationKind.COMMENT_THREAD,
        thread_key=f"{ig_id}:{media_id}",
        external_message_id=comment_id,
        parent_external_id=opt_str(value, "parent_id"),
        root_external_id=media_id,
        author_external_id=author_id,
        author_handle=opt_str(author, "username"),
        text=opt_str(value, "text"),
        idempotency_key=f"igc:{ig_id}:{comment_id}",
        platform_created_at=created,
        platform_ts_raw=str(created_raw),
    )


def _iso(value: str, where: str) -> datetime:
    # Graph renders IG timestamps as ``2024-06-10T10:00:00+0000``.
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"
    return from_iso(value, where)


def _mention_event(
    value: dict[str, Any], *, ig_id: str, entry_time: Any, where: str
) -> NormalizedEvent:
    media_id = req_str(value, "media_id", where)
    comment_id = opt_str(value, "comment_id")
    target = comment_id or media_id
    return NormalizedEvent(
        channel=Channel.IG_COMMENT,
        account_external_id=ig_id,
        event_type=EventType.MESSAGE_CREATED,
        direction=Direction.INBOUND,
        origin=Origin.CUSTOMER,
        conversation_kind=ConversationKind.MENTION,
        thread_key=f"{ig_id}:{media_id}",
        external_message_id=target,
        root_external_id=media_id,
        # Mentions carry ids only; the ingester hydrates author and text from the API.
        idempotency_key=f"igm:{ig_id}:{target}",
        platform_created_at=from_epoch(entry_time, millis=False, where=f"{where}.time"),
        platform_ts_raw=str(entry_time),
    )


class InstagramAdapter(meta.MetaAdapter):
    """Instagram DMs, comments and mentions of one professional account."""

    platform = "instagram"
    supports_history = True

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """Every DM event, comment and mention of the account's entries."""
        events: list[NormalizedEvent] = []
        for index, entry in enumerate(meta.entries(load_object(body), frozenset({"instagram"}))):
            ig_id = req_str(entry, "id", f"entry[{index}]")
            if ig_id != account_external_id:
                continue
            for position, raw in enumerate(opt_list(entry, "messaging", f"entry[{index}]")):
                where = f"entry[{index}].messaging[{position}]"
                event = _dm_event(as_dict(raw, where), ig_id=ig_id, where=where)
                if event is not None:
                    events.append(event)
            changes = [
                as_dict(raw, f"entry[{index}].changes[{n}]")
                for n, raw in enumerate(opt_list(entry, "changes", f"entry[{index}]"))
            ]
            if "field" in entry:  # Instagram Login shape: one change inlined in the entry.
                changes.append(entry)
            for position, change in enumerate(changes):
                where = f"entry[{index}].changes[{position}].value"
                field = change.get("field")
                if not isinstance(field, str) or (
                    field not in _COMMENT_FIELDS and field != "mentions"
                ):
                    continue
                value = as_dict(change.get("value"), where)
                if field == "mentions":
                    events.append(
                        _mention_event(
                            value, ig_id=ig_id, entry_time=entry.get("time"), where=where
                        )
                    )
                else:
                    events.append(
                        _comment_event(
                            value, ig_id=ig_id, entry_time=entry.get("time"), where=where
                        )
                    )
        return events

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """DM / private reply through the Send API, or a public comment or mention reply."""
        token = _http.require(credentials, "access_token")
        if reply.private_reply or reply.conversation_kind == ConversationKind.DIRECT:
            return send_api_messages(
                client,
                url=_http.join(base_url, f"/{API_VERSION}/{account_external_id}/messages"),
                token=token,
                reply=reply,
                with_messaging_type=False,
            )
        if not reply.text:
            raise PolicyError("empty", "Instagram comment replies carry text")
        if reply.conversation_kind == ConversationKind.MENTION:
            if not reply.root_external_id:
                raise PolicyError("no_target", "a mention reply needs the media id")
            params = {"media_id": reply.root_external_id, "message": reply.text}
            if reply.parent_external_id:
                params["comment_id"] = reply.parent_external_id
            path = f"/{API_VERSION}/{account_external_id}/mentions"
        elif reply.parent_external_id:
            params = {"message": reply.text}
            path = f"/{API_VERSION}/{reply.parent_external_id}/replies"
        elif reply.root_external_id:
            params = {"message": reply.text}
            path = f"/{API_VERSION}/{reply.root_external_id}/comments"
        else:
            raise PolicyError("no_target", "a comment reply needs a comment or media id")
        data = meta.post(client, _http.join(base_url, path), token=token, params=params)
        return SendResult(external_message_id=str(data.get("id", "")), raw=data)

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
        """One page of media with every comment and reply, then one page of DM threads.

        Cursor: ``{"phase": "media" | "conversations", "after": <Graph cursor or None>}``.
        Media first (``GET /{ig-id}/media``, then ``/{media-id}/comments`` with ``replies``
        nested and ``/{comment-id}/replies`` for long reply lists), then DMs
        (``GET /{ig-id}/conversations?platform=instagram``). ``{}`` once both are done.
        Each comment becomes a ``comments`` change, each DM a ``messaging`` item
        (``is_echo`` for the account's own), one webhook body apiece. ``since`` is sent to
        the media list and applied to every comment and DM, as for Facebook.
        """
        token = _http.require(credentials, "access_token")
        return meta.history_then_conversations(
            client,
            base_url=base_url,
            token=token,
            account_id=account_external_id,
            cursor=cursor,
            since=since,
            first_phase="media",
            first_page=lambda after: self._media_page(
                client, base_url, token, account_external_id, after, since
            ),
            platform="instagram",
            envelope="instagram",
        )

    @classmethod
    def _media_page(
        cls,
        client: httpx.Client,
        base_url: str,
        token: str,
        ig_id: str,
        after: str | None,
        since: datetime | None,
    ) -> tuple[list[bytes], str | None, int]:
        """One page of media with every comment and reply: bodies, next cursor, calls."""
        page = meta.history_page(
            client,
            _http.join(base_url, f"/{API_VERSION}/{ig_id}/media"),
            token=token,
            fields=_MEDIA_FIELDS,
            after=after,
            since=since,
        )
        calls = 1
        items: list[bytes] = []
        for media in meta.page_data(page, "media"):
            if not opt_str(media, "id"):
                continue
            found, used = cls._media_comments(client, base_url, token, ig_id, media, since)
            calls += used
            items += [meta.raw_item(body) for _, body in sorted(found, key=lambda p: p[0])]
        return items, meta.next_after(page), calls

    @staticmethod
    def _media_comments(
        client: httpx.Client,
        base_url: str,
        token: str,
        ig_id: str,
        media: Mapping[str, Any],
        since: datetime | None,
    ) -> tuple[list[tuple[datetime, dict[str, Any]]], int]:
        """Every comment and reply of one media item at or after ``since``; calls made."""
        media_id = opt_str(media, "id")
        found: list[tuple[datetime, dict[str, Any]]] = []
        calls = 0

        def keep(item: tuple[datetime, dict[str, Any]] | None) -> None:
            if item is not None and (since is None or item[0] >= since):
                found.append(item)

        def fetch(path: str, fields: str, after: str | None) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return meta.get(
                client,
                _http.join(base_url, f"/{API_VERSION}/{path}"),
                token=token,
                params={
                    "fields": fields,
                    "limit": str(meta.HISTORY_INNER_PAGE_SIZE),
                    **({"after": after} if after else {}),
                },
            )

        after: str | None = None
        while True:
            comments = fetch(f"{media_id}/comments", _API_COMMENT_FIELDS, after)
            for comment in meta.page_data(comments, "comments"):
                keep(_comment_change(comment, ig_id=ig_id, media=media, parent_id=None))
                comment_id = opt_str(comment, "id")
                replies: dict[str, Any] | None = opt_dict(comment, "replies", "comment")
                while True:
                    for reply in meta.page_data(replies, "replies"):
                        keep(_comment_change(reply, ig_id=ig_id, media=media, parent_id=comment_id))
                    replies_after = meta.next_after(replies)
                    if replies_after is None or not comment_id:
                        break
                    replies = fetch(f"{comment_id}/replies", _REPLY_FIELDS, replies_after)
            after = meta.next_after(comments)
            if after is None:
                return found, calls
