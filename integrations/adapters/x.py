"""X (Twitter) Account Activity API: DMs, mentions and replies, deletes (CHANNELS.md §5).

* CRC: ``GET ?crc_token=…`` → ``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer
  secret, crc_token))}``.
* Authenticity: ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret,
  raw body)>``.
* Payload: one JSON object per subscribed user (``for_user_id``) keyed by event arrays.
  DM threads are ``for_user_id:<lower id>-<higher id>``, the v2 ``dm_conversation_id``
  of a one-to-one conversation. Post threads are ``for_user_id:<root tweet id>``; the root
  is ``conversation_id`` when present, else the replied-to tweet, else the tweet itself —
  a payload only shows one level, so the ingester re-threads a deeper reply when it
  already knows the parent.
* Outbound (v2, OAuth 1.0a user context signed with HMAC-SHA1):
  ``POST /2/dm_conversations/with/{participant_id}/messages`` and ``POST /2/tweets``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx

from . import _http
from ._payload import (
    as_dict,
    compare,
    credential,
    from_epoch,
    header,
    hmac_sha256,
    load_object,
    newest_epoch,
    opt_dict,
    opt_list,
    opt_str,
    req_str,
)
from .base import (
    Adapter,
    Attachment,
    AttachmentKind,
    AuthError,
    Channel,
    ConversationKind,
    DeliveryStatus,
    Direction,
    EventType,
    HandshakeResponse,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PayloadError,
    PolicyError,
    RateLimited,
    SendResult,
    TransientError,
)

_MEDIA_KINDS = {
    "photo": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "animated_gif": AttachmentKind.VIDEO,
}


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` value answering a CRC challenge."""
    digest = hmac_sha256(consumer_secret, crc_token.encode("utf-8"))
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a requires (only unreserved chars kept)."""
    return quote(value, safe="~")


def oauth1_header(
    method: str,
    url: str,
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """An OAuth 1.0a ``Authorization`` header (HMAC-SHA1) for a request with a JSON body.

    JSON bodies are not part of the signature base string; query parameters are.
    """
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    oauth["oauth_signature"] = oauth1_signature(
        method, url, oauth, consumer_secret=consumer_secret, token_secret=token_secret
    )
    return "OAuth " + ", ".join(
        f'{percent_encode(k)}="{percent_encode(v)}"' for k, v in sorted(oauth.items())
    )


def oauth1_signature(
    method: str,
    url: str,
    oauth_params: Mapping[str, str],
    *,
    consumer_secret: str,
    token_secret: str,
) -> str:
    """The base64 HMAC-SHA1 signature over the OAuth 1.0a signature base string."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    params += [(k, v) for k, v in oauth_params.items() if k != "oauth_signature"]
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    base_url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))
    base = "&".join([method.upper(), percent_encode(base_url), percent_encode(normalized)])
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode("utf-8"), base.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _dm_thread(for_user: str, a: str, b: str) -> str:
    # Numeric order, as X builds one-to-one dm_conversation_ids.
    low, high = sorted((a, b), key=lambda v: (len(v), v))
    return f"{for_user}:{low}-{high}"


def _tweet_time(tweet: Mapping[str, Any], where: str) -> tuple[datetime, str]:
    raw = tweet.get("timestamp_ms")
    if raw is not None:
        return from_epoch(raw, millis=True, where=f"{where}.timestamp_ms"), str(raw)
    created = tweet.get("created_at")
    if isinstance(created, str):
        try:
            parsed = datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y")
            return parsed.astimezone(UTC), created
        except ValueError:
            pass
    raise PayloadError(f"{where}: timestamp_ms or created_at is required")


def _tweet_event(tweet: dict[str, Any], *, for_user: str, where: str) -> NormalizedEvent | None:
    if "retweeted_status" in tweet:
        return None  # A retweet adds no words of its own.
    tweet_id = req_str(tweet, "id_str", where) if "id_str" in tweet else req_str(tweet, "id", where)
    user = as_dict(tweet.get("user"), f"{where}.user")
    author = opt_str(user, "id_str") or req_str(user, "id", f"{where}.user")
    parent = opt_str(tweet, "in_reply_to_status_id_str")
    replied_user = opt_str(tweet, "in_reply_to_user_id_str")
    root = (
        opt_str(tweet, "conversation_id_str")
        or opt_str(tweet, "conversation_id")
        or parent
        or tweet_id
    )
    text = opt_str(tweet, "text")
    extended = opt_dict(tweet, "extended_tweet", where)
    if tweet.get("truncated") is True and extended is not None:
        text = opt_str(extended, "full_text") or text
    media_source = opt_dict(tweet, "extended_entities", where) or opt_dict(tweet, "entities", where)
    attachments = tuple(
        Attachment(
            kind=_MEDIA_KINDS.get(opt_str(item, "type") or "", AttachmentKind.FILE),
            url=opt_str(item, "media_url_https"),
            platform_media_id=opt_str(item, "id_str"),
        )
        for item in opt_list(media_source or {}, "media", where)
        if isinstance(item, dict)
    )
    from_brand = author == for_user
    about_brand_thread = replied_user in (None, for_user) and (
        from_brand or replied_user == for_user
    )
    created, raw_ts = _tweet_time(tweet, where)
    return NormalizedEvent(
        channel=Channel.X_POST,
        account_external_id=for_user,
        event_type=EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if from_brand else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_brand else Origin.CUSTOMER,
        conversation_kind=ConversationKind.COMMENT_THREAD
        if about_brand_thread
        else ConversationKind.MENTION,
        thread_key=f"{for_user}:{root}",
        external_message_id=tweet_id,
        parent_external_id=parent,
        root_external_id=root,
        author_external_id=author,
        author_handle=opt_str(user, "screen_name"),
        author_display_name=opt_str(user, "name"),
        text=text,
        attachments=attachments,
        idempotency_key=f"xp:{for_user}:{tweet_id}",
        platform_created_at=created,
        platform_ts_raw=raw_ts,
    )


def _dm_event(
    event: dict[str, Any], *, for_user: str, users: Mapping[str, Any], where: str
) -> NormalizedEvent | None:
    if event.get("type") != "message_create":
        return None
    event_id = req_str(event, "id", where)
    create = as_dict(event.get("message_create"), f"{where}.message_create")
    sender = req_str(create, "sender_id", f"{where}.message_create")
    recipient = req_str(
        as_dict(create.get("target"), f"{where}.message_create.target"), "recipient_id", where
    )
    data = opt_dict(create, "message_data", where) or {}
    attachment = opt_dict(data, "attachment", where)
    media = opt_dict(attachment, "media", where) if attachment else None
    attachments: tuple[Attachment, ...] = ()
    if media is not None:
        attachments = (
            Attachment(
                kind=_MEDIA_KINDS.get(opt_str(media, "type") or "", AttachmentKind.FILE),
                url=opt_str(media, "media_url_https"),
                platform_media_id=opt_str(media, "id_str") or opt_str(media, "id"),
            ),
        )
    profile = users.get(sender) if isinstance(users.get(sender), dict) else None
    from_brand = sender == for_user
    created_raw = event.get("created_timestamp")
    return NormalizedEvent(
        channel=Channel.X_DM,
        account_external_id=for_user,
        event_type=EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if from_brand else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_brand else Origin.CUSTOMER,
        conversation_kind=ConversationKind.DIRECT,
        thread_key=_dm_thread(for_user, sender, recipient),
        external_message_id=event_id,
        author_external_id=sender,
        author_handle=opt_str(profile, "screen_name"),
        author_display_name=opt_str(profile, "name"),
        text=opt_str(data, "text"),
        attachments=attachments,
        idempotency_key=f"xdm:{for_user}:{event_id}",
        platform_created_at=from_epoch(
            created_raw, millis=True, where=f"{where}.created_timestamp"
        ),
        platform_ts_raw=str(created_raw),
    )


def _dm_signal(
    event: dict[str, Any], *, for_user: str, kind: str, where: str
) -> NormalizedEvent | None:
    sender = req_str(event, "sender_id", where)
    if sender == for_user:
        return None  # The brand's own read marks and typing are not customer signals.
    recipient = req_str(as_dict(event.get("target"), f"{where}.target"), "recipient_id", where)
    created_raw = event.get("created_timestamp")
    common: dict[str, Any] = {
        "channel": Channel.X_DM,
        "account_external_id": for_user,
        "direction": Direction.SYSTEM,
        "origin": Origin.CUSTOMER,
        "conversation_kind": ConversationKind.DIRECT,
        "thread_key": _dm_thread(for_user, sender, recipient),
        "author_external_id": sender,
        "platform_created_at": from_epoch(
            created_raw, millis=True, where=f"{where}.created_timestamp"
        ),
        "platform_ts_raw": str(created_raw),
    }
    if kind == "read":
        last_read = req_str(event, "last_read_event_id", where)
        return NormalizedEvent(
            **common,
            event_type=EventType.RECEIPT_READ,
            status=DeliveryStatus.READ,
            external_message_id=last_read,
            idempotency_key=f"xdm:{for_user}:{sender}:read:{last_read}",
        )
    return NormalizedEvent(
        **common,
        event_type=EventType.TYPING,
        idempotency_key=f"xdm:{for_user}:{sender}:typing:{created_raw}",
    )


def _delete_event(item: dict[str, Any], *, for_user: str, where: str) -> NormalizedEvent:
    status = as_dict(item.get("status"), f"{where}.status")
    tweet_id = req_str(status, "id", f"{where}.status")
    author = opt_str(status, "user_id")
    raw = item.get("timestamp_ms")
    return NormalizedEvent(
        channel=Channel.X_POST,
        account_external_id=for_user,
        event_type=EventType.MESSAGE_DELETED,
        direction=Direction.OUTBOUND if author == for_user else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if author == for_user else Origin.CUSTOMER,
        conversation_kind=ConversationKind.COMMENT_THREAD,
        # The delete does not say which thread the tweet was in; the ingester finds the
        # message by ``external_message_id``.
        thread_key=f"{for_user}:{tweet_id}",
        external_message_id=tweet_id,
        author_external_id=author,
        idempotency_key=f"xp:{for_user}:{tweet_id}:deleted",
        platform_created_at=from_epoch(raw, millis=True, where=f"{where}.timestamp_ms"),
        platform_ts_raw=str(raw),
    )


def _raise_for_x_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body = _http.json_body(response)
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first.get("code") or body.get("title") or response.status_code
    message = str(first.get("message") or body.get("detail") or response.text[:300])
    if response.status_code == 429:
        reset = response.headers.get("x-rate-limit-reset")
        wait = None
        if reset and reset.isdigit():
            wait = max(0.0, float(reset) - time.time())
        raise RateLimited(
            wait if wait is not None else _http.retry_after(response.headers), code, message
        )
    if response.status_code == 401:
        raise AuthError(code, message)
    if response.status_code >= 500:
        raise TransientError(code, message)
    # 403: the user blocked us, DMs closed, duplicate post…; 400: invalid request.
    raise PolicyError(code, message)


class XAdapter(Adapter):
    """Account Activity events and v2 sends of one X user."""

    platform = "x"

    def handshake(
        self, query: Mapping[str, str], credentials: Mapping[str, Any]
    ) -> HandshakeResponse | None:
        """Answer the CRC challenge with the HMAC of ``crc_token``."""
        secret = credential(credentials, "consumer_secret")
        token = query.get("crc_token")
        if secret is None or not token:
            return HandshakeResponse(
                status=400, body=b'{"error":"crc_token required"}', content_type="application/json"
            )
        body = json.dumps({"response_token": crc_response_token(secret, token)})
        return HandshakeResponse(
            status=200, body=body.encode("ascii"), content_type="application/json"
        )

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """``x-twitter-webhooks-signature`` = base64 HMAC-SHA256 of the raw body."""
        secret = credential(credentials, "consumer_secret")
        received = header(headers, "x-twitter-webhooks-signature")
        if secret is None or received is None or not received.startswith("sha256="):
            return False
        expected = base64.b64encode(hmac_sha256(secret, bytes(body))).decode("ascii")
        return compare(expected, received.removeprefix("sha256="))

    def account_ids(self, body: bytes) -> frozenset[str]:
        """The ``for_user_id`` of the body."""
        try:
            payload = load_object(body)
        except PayloadError:
            return frozenset()
        user = opt_str(payload, "for_user_id")
        return frozenset({user}) if user else frozenset()

    def sent_at(self, payload: Any) -> datetime | None:
        """The newest event time of the body: X sends no delivery time, but an Account
        Activity body carries events as they happen (and its Replay API, five days back)."""
        if not isinstance(payload, dict):
            return None
        times = []
        for name, items in payload.items():
            if name.endswith("_events") and isinstance(items, list):
                for item in items:
                    if isinstance(item, dict):
                        times.append(item.get("created_timestamp") or item.get("timestamp_ms"))
        return newest_epoch(times)

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """DMs, read receipts, typing, tweets (mentions/replies/echoes) and deletes."""
        payload = load_object(body)
        for_user = req_str(payload, "for_user_id", "body")
        if for_user != account_external_id:
            return []
        users = opt_dict(payload, "users", "body") or {}
        events: list[NormalizedEvent | None] = []
        for n, raw in enumerate(opt_list(payload, "direct_message_events", "body")):
            where = f"direct_message_events[{n}]"
            events.append(
                _dm_event(as_dict(raw, where), for_user=for_user, users=users, where=where)
            )
        for n, raw in enumerate(opt_list(payload, "direct_message_mark_read_events", "body")):
            where = f"direct_message_mark_read_events[{n}]"
            events.append(
                _dm_signal(as_dict(raw, where), for_user=for_user, kind="read", where=where)
            )
        for n, raw in enumerate(opt_list(payload, "direct_message_indicate_typing_events", "body")):
            where = f"direct_message_indicate_typing_events[{n}]"
            events.append(
                _dm_signal(as_dict(raw, where), for_user=for_user, kind="typing", where=where)
            )
        for n, raw in enumerate(opt_list(payload, "tweet_create_events", "body")):
            where = f"tweet_create_events[{n}]"
            events.append(_tweet_event(as_dict(raw, where), for_user=for_user, where=where))
        for n, raw in enumerate(opt_list(payload, "tweet_delete_events", "body")):
            where = f"tweet_delete_events[{n}]"
            events.append(_delete_event(as_dict(raw, where), for_user=for_user, where=where))
        return [event for event in events if event is not None]

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """A DM (``direct``) or a reply post (comment thread / mention)."""
        media_ids = [a.platform_media_id for a in reply.attachments if a.platform_media_id]
        if len(media_ids) != len(reply.attachments):
            raise PolicyError("media_upload_required", "X attachments must be uploaded media ids")
        if not reply.text and not media_ids:
            raise PolicyError("empty", "nothing to send")
        body: dict[str, Any] = {}
        if reply.conversation_kind == ConversationKind.DIRECT:
            if not reply.recipient_external_id:
                raise PolicyError("no_recipient", "a DM needs the participant id")
            path = f"/2/dm_conversations/with/{reply.recipient_external_id}/messages"
            if reply.text:
                body["text"] = reply.text
            if media_ids:
                body["attachments"] = [{"media_id": m} for m in media_ids]
        else:
            target = reply.parent_external_id or reply.root_external_id
            if not target:
                raise PolicyError("no_target", "a reply post needs the tweet it answers")
            path = "/2/tweets"
            body = {"text": reply.text or "", "reply": {"in_reply_to_tweet_id": target}}
            if media_ids:
                body["media"] = {"media_ids": media_ids}
        url = _http.join(base_url, path)
        authorization = oauth1_header(
            "POST",
            url,
            consumer_key=_http.require(credentials, "consumer_key"),
            consumer_secret=_http.require(credentials, "consumer_secret"),
            token=_http.require(credentials, "access_token"),
            token_secret=_http.require(credentials, "access_token_secret"),
        )
        response = _http.request(
            client, "POST", url, json=body, headers={"Authorization": authorization}
        )
        _raise_for_x_error(response)
        data = _http.json_body(response)
        inner = data.get("data") if isinstance(data.get("data"), dict) else {}
        external_id = inner.get("dm_event_id") or inner.get("id") or ""
        return SendResult(external_message_id=str(external_id), raw=data)
