"""Facebook Pages: Messenger DMs and Page feed comments (CHANNELS.md §1, §2).

Inbound arrives on one webhook (``object: "page"``): Messenger events in
``entry[].messaging[]`` (and ``standby[]`` under handover), feed comments in
``entry[].changes[]`` with ``field: "feed"``. Outbound uses the Send API
(``POST /{page-id}/messages``), private replies (``recipient.comment_id``) and public
comment replies (``POST /{comment-or-post-id}/comments``), all with the Page token.
Only ``item: "comment"`` feed changes are read; posts, likes and shares are skipped.
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
    load_object,
    opt_dict,
    opt_list,
    opt_str,
    req_str,
    sha1_hex,
)
from .base import (
    Attachment,
    AttachmentKind,
    Channel,
    ConversationKind,
    DeliveryStatus,
    Direction,
    EventType,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PolicyError,
    PollResult,
    SendResult,
)

API_VERSION = meta.GRAPH_VERSION

_FEED_VERBS = {
    "add": EventType.MESSAGE_CREATED,
    "edited": EventType.MESSAGE_EDITED,
    "edit": EventType.MESSAGE_EDITED,
    "remove": EventType.MESSAGE_DELETED,
    "hide": EventType.COMMENT_HIDDEN,
    "unhide": EventType.COMMENT_UNHIDDEN,
}
_SEND_TYPES = {"image": "image", "video": "video", "audio": "audio"}
# History: the fields of a comment read through the Graph API, and the stream filter that
# lists replies flat (each with ``parent``) after the top-level comments.
_COMMENT_FIELDS = "id,from,message,created_time,parent{id},attachment"
_FEED_FIELDS = (
    "id,created_time,updated_time,"
    f"comments.filter(stream).limit({meta.HISTORY_INNER_PAGE_SIZE}){{{_COMMENT_FIELDS}}}"
)
_PHOTO_ATTACHMENTS = frozenset({"photo", "sticker", "animated_image_share", "animated_image"})


def _millis(value: Any, where: str) -> datetime:
    return from_epoch(value, millis=True, where=where)


def _messaging_event(item: dict[str, Any], *, page_id: str, where: str) -> NormalizedEvent | None:
    common, psid = meta.messaging_common(
        item, account_id=page_id, channel=Channel.MESSENGER, where=where
    )
    event = meta.messaging_event(
        item,
        common,
        prefix=f"msgr:{page_id}",
        epoch=_millis,
        parent_of=lambda message: opt_str(opt_dict(message, "reply_to", where), "mid"),
        echo_client_ref=True,
        where=where,
    )
    if event is not None:
        return event
    timestamp = item.get("timestamp")
    if "delivery" in item or "read" in item:
        kind = "delivery" if "delivery" in item else "read"
        receipt = as_dict(item[kind], f"{where}.{kind}")
        watermark_raw = receipt.get("watermark")
        watermark = from_epoch(watermark_raw, millis=True, where=f"{where}.{kind}.watermark")
        mids = tuple(m for m in opt_list(receipt, "mids", where) if isinstance(m, str))
        return NormalizedEvent(
            **{**common, "direction": Direction.SYSTEM, "origin": Origin.CUSTOMER},
            event_type=EventType.RECEIPT_DELIVERED
            if kind == "delivery"
            else EventType.RECEIPT_READ,
            status=DeliveryStatus.DELIVERED if kind == "delivery" else DeliveryStatus.READ,
            receipt_watermark=watermark,
            related_external_ids=mids,
            idempotency_key=f"msgr:{page_id}:{psid}:{kind}:{watermark_raw}",
            # Deliveries carry no timestamp: the watermark is the best clock we have.
            platform_created_at=(
                from_epoch(timestamp, millis=True, where=f"{where}.timestamp")
                if timestamp is not None
                else watermark
            ),
            platform_ts_raw=str(timestamp if timestamp is not None else watermark_raw),
        )
    return None


def _feed_event(
    value: dict[str, Any], *, page_id: str, entry_time: Any, where: str
) -> NormalizedEvent | None:
    if value.get("item") != "comment":
        return None
    verb = opt_str(value, "verb") or ""
    event_type = _FEED_VERBS.get(verb)
    if event_type is None:
        return None
    comment_id = req_str(value, "comment_id", where)
    post_id = req_str(value, "post_id", where)
    parent_id = opt_str(value, "parent_id")
    author = opt_dict(value, "from", where)
    author_id = opt_str(author, "id")
    from_page = author_id == page_id
    text = opt_str(value, "message")
    created_raw = value.get("created_time", entry_time)
    # ``created_time`` is epoch seconds; the entry time fallback may be milliseconds.
    millis = isinstance(created_raw, int) and created_raw > 100_000_000_000
    attachments = tuple(
        Attachment(kind=kind, url=opt_str(value, key))
        for key, kind in (("photo", AttachmentKind.IMAGE), ("video", AttachmentKind.VIDEO))
        if opt_str(value, key)
    )
    key = (
        f"fbc:{page_id}:{comment_id}:add"
        if verb == "add"
        else f"fbc:{page_id}:{comment_id}:{verb}:{sha1_hex(text)}"
    )
    return NormalizedEvent(
        channel=Channel.FB_COMMENT,
        account_external_id=page_id,
        event_type=event_type,
        direction=Direction.OUTBOUND if from_page else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_page else Origin.CUSTOMER,
        conversation_kind=ConversationKind.COMMENT_THREAD,
        thread_key=f"{page_id}:{post_id}",
        external_message_id=comment_id,
        # A top-level comment names the post as its parent: it has no parent comment.
        parent_external_id=None if parent_id in (None, post_id) else parent_id,
        root_external_id=post_id,
        author_external_id=author_id,
        author_display_name=opt_str(author, "name"),
        text=text,
        attachments=attachments,
        idempotency_key=key,
        platform_created_at=from_epoch(created_raw, millis=millis, where=f"{where}.created_time"),
        platform_ts_raw=str(created_raw),
    )


def _feed_change(
    comment: Mapping[str, Any], *, page_id: str, post_id: str
) -> tuple[datetime, dict[str, Any]] | None:
    """A comment read from the Graph API as the ``feed`` change of its webhook."""
    comment_id = opt_str(comment, "id")
    if not comment_id:
        return None
    created = meta.graph_time(comment.get("created_time"), "comment.created_time")
    value: dict[str, Any] = {
        "item": "comment",
        "verb": "add",
        "comment_id": comment_id,
        "post_id": post_id,
        # As in the webhook, a top-level comment names the post as its parent.
        "parent_id": opt_str(opt_dict(comment, "parent", "comment"), "id") or post_id,
        "created_time": int(created.timestamp()),
    }
    if opt_str(comment, "message") is not None:
        value["message"] = opt_str(comment, "message")
    author = opt_dict(comment, "from", "comment")
    if author is not None and opt_str(author, "id"):
        value["from"] = {"id": opt_str(author, "id"), "name": opt_str(author, "name")}
    attachment = opt_dict(comment, "attachment", "comment") or {}
    kind = opt_str(attachment, "type") or ""
    media = opt_dict(attachment, "media", "attachment") or {}
    image_url = opt_str(opt_dict(media, "image", "media"), "src")
    if kind in _PHOTO_ATTACHMENTS and (image_url or opt_str(attachment, "url")):
        value["photo"] = image_url or opt_str(attachment, "url")
    elif kind.startswith("video") and (opt_str(media, "source") or opt_str(attachment, "url")):
        value["video"] = opt_str(media, "source") or opt_str(attachment, "url")
    body = {
        "object": "page",
        "entry": [
            {
                "id": page_id,
                "time": value["created_time"],
                "changes": [{"field": "feed", "value": value}],
            }
        ],
    }
    return created, body


class FacebookAdapter(meta.MetaAdapter):
    """Messenger and Page feed comments of one Facebook Page."""

    platform = "facebook"
    supports_history = True

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """Every Messenger event and feed comment of the Page's entries."""
        events: list[NormalizedEvent] = []
        for index, entry in enumerate(meta.entries(load_object(body), frozenset({"page"}))):
            page_id = req_str(entry, "id", f"entry[{index}]")
            if page_id != account_external_id:
                continue
            for key in ("messaging", "standby"):
                for position, raw in enumerate(opt_list(entry, key, f"entry[{index}]")):
                    where = f"entry[{index}].{key}[{position}]"
                    event = _messaging_event(as_dict(raw, where), page_id=page_id, where=where)
                    if event is not None:
                        events.append(event)
            for position, raw in enumerate(opt_list(entry, "changes", f"entry[{index}]")):
                where = f"entry[{index}].changes[{position}]"
                change = as_dict(raw, where)
                if change.get("field") != "feed":
                    continue
                value = as_dict(change.get("value"), f"{where}.value")
                event = _feed_event(
                    value, page_id=page_id, entry_time=entry.get("time"), where=f"{where}.value"
                )
                if event is not None:
                    events.append(event)
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
        """Send API message, private reply or public comment reply, per ``reply``."""
        token = _http.require(credentials, "page_access_token")
        if reply.conversation_kind == ConversationKind.COMMENT_THREAD and not reply.private_reply:
            return self._comment(client, base_url, token, reply)
        return send_api_messages(
            client,
            url=_http.join(base_url, f"/{API_VERSION}/{account_external_id}/messages"),
            token=token,
            reply=reply,
            with_messaging_type=True,
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
        """One page of Page posts with every comment, then one page of conversations.

        Cursor: ``{"phase": "feed" | "conversations", "after": <Graph cursor or None>}``;
        the feed is walked first (``GET /{page-id}/feed`` with the comments of each post
        inline, the rest through ``/{post-id}/comments?filter=stream``), then Messenger
        (``GET /{page-id}/conversations?platform=messenger``). ``{}`` once both are done.
        Each comment becomes a ``feed`` change (``verb: "add"``), each message a
        ``messaging`` item (``is_echo`` for the Page's own), one webhook body apiece.
        ``since`` is sent as Graph's time-range parameter of the feed and comments, and
        applied again to every comment and message; the conversation list (most recently
        active first) stops at the first conversation last active before it.
        """
        token = _http.require(credentials, "page_access_token")
        return meta.history_then_conversations(
            client,
            base_url=base_url,
            token=token,
            account_id=account_external_id,
            cursor=cursor,
            since=since,
            first_phase="feed",
            first_page=lambda after: self._feed_page(
                client, base_url, token, account_external_id, after, since
            ),
            platform="messenger",
            envelope="page",
        )

    @staticmethod
    def _feed_page(
        client: httpx.Client,
        base_url: str,
        token: str,
        page_id: str,
        after: str | None,
        since: datetime | None,
    ) -> tuple[list[bytes], str | None, int]:
        page = meta.history_page(
            client,
            _http.join(base_url, f"/{API_VERSION}/{page_id}/feed"),
            token=token,
            fields=_FEED_FIELDS,
            after=after,
            since=since,
        )
        calls = 1
        items: list[bytes] = []
        for post in meta.page_data(page, "feed"):
            post_id = opt_str(post, "id")
            if not post_id:
                continue
            collected: list[tuple[datetime, dict[str, Any]]] = []
            comments = opt_dict(post, "comments", "post")
            while True:
                for comment in meta.page_data(comments, "comments"):
                    found = _feed_change(comment, page_id=page_id, post_id=post_id)
                    if found is not None and (since is None or found[0] >= since):
                        collected.append(found)
                comments_after = meta.next_after(comments)
                if comments_after is None:
                    break
                comments = meta.get(
                    client,
                    _http.join(base_url, f"/{API_VERSION}/{post_id}/comments"),
                    token=token,
                    params={
                        "fields": _COMMENT_FIELDS,
                        "filter": "stream",
                        "order": "chronological",
                        "limit": str(meta.HISTORY_INNER_PAGE_SIZE),
                        "after": comments_after,
                        **meta.since_param(since),
                    },
                )
                calls += 1
            items += [meta.raw_item(body) for _, body in sorted(collected, key=lambda p: p[0])]
        return items, meta.next_after(page), calls

    @staticmethod
    def _comment(
        client: httpx.Client, base_url: str, token: str, reply: OutboundReply
    ) -> SendResult:
        target = reply.parent_external_id or reply.root_external_id
        if not target:
            raise PolicyError("no_target", "a comment reply needs a parent comment or a post")
        body: dict[str, Any] = {"message": reply.text or ""}
        images = [a for a in reply.attachments if a.url]
        if images:
            # The comments edge takes a single attachment.
            body["attachment_url"] = images[0].url
        data = meta.post(
            client,
            _http.join(base_url, f"/{API_VERSION}/{target}/comments"),
            token=token,
            json_body=body,
        )
        return SendResult(external_message_id=str(data.get("id", "")), raw=data)


def send_api_messages(
    client: httpx.Client,
    *,
    url: str,
    token: str,
    reply: OutboundReply,
    with_messaging_type: bool,
) -> SendResult:
    """Send ``reply`` through a Messenger-style Send API (Messenger and Instagram).

    The Send API takes one text or one attachment per call, so a reply with both becomes
    several calls; a private reply is a single message by platform rule.
    """
    if reply.private_reply:
        if not reply.parent_external_id:
            raise PolicyError("no_comment", "a private reply needs the comment id")
        recipient: dict[str, str] = {"comment_id": reply.parent_external_id}
    elif reply.recipient_external_id:
        recipient = {"id": reply.recipient_external_id}
    else:
        raise PolicyError("no_recipient", "a direct message needs a recipient id")
    messages: list[dict[str, Any]] = []
    if reply.text:
        messages.append({"text": reply.text})
    if not reply.private_reply:
        for attachment in reply.attachments:
            if not attachment.url:
                continue
            kind = _SEND_TYPES.get(attachment.kind, "file")
            messages.append(
                {
                    "attachment": {
                        "type": kind,
                        "payload": {"url": attachment.url, "is_reusable": True},
                    }
                }
            )
    if not messages:
        raise PolicyError("empty", "nothing to send")
    results: list[dict[str, Any]] = []
    for message in messages:
        body: dict[str, Any] = {"recipient": recipient, "message": message}
        if reply.tag:
            # A tag (HUMAN_AGENT: 7-day window) always travels with MESSAGE_TAG.
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = reply.tag
        elif with_messaging_type:
            body["messaging_type"] = "RESPONSE"
        if reply.client_ref and "text" in message:
            message["metadata"] = reply.client_ref
        results.append(meta.post(client, url, token=token, json_body=body))
        if reply.private_reply:
            # Only the first message may answer a comment; later ones need the user's reply.
            break
    ids = [str(r.get("message_id", "")) for r in results]
    return SendResult(external_message_id=ids[0], raw=results[0], extra_external_ids=tuple(ids[1:]))
