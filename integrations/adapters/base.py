"""The shared vocabulary of the platform adapters.

Every adapter turns one platform's raw webhook body (or one polled item) into
``NormalizedEvent`` values (CHANNELS.md §9.1) and turns an ``OutboundReply`` into the
platform's documented send request. Nothing here touches Django or a database: the
ingest and send services on the Django side own persistence, the adapters own the wire.

Conventions that every adapter follows:

* ``parse`` is pure. It iterates every batched entry/change/messaging item, skips event
  types it does not know, and raises ``PayloadError`` for a body that is structurally
  invalid (not JSON, wrong types, a known event missing its ids).
* ``parse`` only emits events for the brand account it is given: a body that also carries
  entries of another account (Meta batches by app, not by account) yields nothing for
  them, so an event stored under one tenant never creates data in another. The view uses
  ``Adapter.account_ids`` to route a shared callback to every addressed account.
* ``send`` raises ``RateLimited``, ``TransientError``, ``PolicyError`` or ``AuthError``;
  callers retry the first two with backoff and never retry the last two. ``poll`` and
  ``history`` raise the same errors, mapped the same way.
* ``history`` reads the account's recent past through the platform's API and returns
  webhook-shaped bodies (or polled items) that ``parse`` accepts, so a backfilled item has
  the thread and idempotency keys of the same item delivered by webhook and ingest stays
  one path. Platforms without such an API raise ``HistoryUnavailable``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import httpx


class Channel(StrEnum):
    """The channel of a normalized event (CHANNELS.md §9.1, plus the generic ``api``)."""

    MESSENGER = "messenger"
    FB_COMMENT = "fb_comment"
    IG_DM = "ig_dm"
    IG_COMMENT = "ig_comment"
    WHATSAPP = "whatsapp"
    X_DM = "x_dm"
    X_POST = "x_post"
    TELEGRAM = "telegram"
    YOUTUBE = "youtube"
    EMAIL = "email"
    API = "api"
    DISCOURSE = "discourse"
    WORDPRESS = "wordpress"


class EventType(StrEnum):
    """What happened. Receipts and statuses describe an earlier outbound message."""

    MESSAGE_CREATED = "message.created"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_DELETED = "message.deleted"
    MESSAGE_RESTORED = "message.restored"
    REACTION_ADDED = "reaction.added"
    REACTION_REMOVED = "reaction.removed"
    RECEIPT_DELIVERED = "receipt.delivered"
    RECEIPT_READ = "receipt.read"
    STATUS_SENT = "status.sent"
    STATUS_FAILED = "status.failed"
    COMMENT_HIDDEN = "comment.hidden"
    COMMENT_UNHIDDEN = "comment.unhidden"
    TYPING = "typing"


class Direction(StrEnum):
    """Inbound from a customer, outbound from the brand (echo or own send), or system."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    SYSTEM = "system"


class Origin(StrEnum):
    """Who produced the event.

    ``BRAND_VIA_NATIVE_APP`` is used for every brand-authored echo that the payload cannot
    prove came from Causerie; the ingester upgrades it to ``BRAND_VIA_CRM`` when the
    ``external_message_id`` or ``client_ref`` matches one of its own sends.
    """

    CUSTOMER = "customer"
    BRAND_VIA_CRM = "brand_via_crm"
    BRAND_VIA_NATIVE_APP = "brand_via_native_app"


class ConversationKind(StrEnum):
    """The conversation kinds of API.md (``Conversation.kind``)."""

    DIRECT = "direct"
    COMMENT_THREAD = "comment_thread"
    MENTION = "mention"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    """Delivery status of an outbound message carried by receipts and status events."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"


class AttachmentKind(StrEnum):
    """Attachment kinds of CHANNELS.md §9.1."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"
    STICKER = "sticker"
    LOCATION = "location"
    SHARE = "share"
    STORY = "story"


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """One media item of a message. ``url`` may be short-lived (see ``expires_at``)."""

    kind: str
    url: str | None = None
    platform_media_id: str | None = None
    mime: str | None = None
    size: int | None = None
    caption: str | None = None
    sha256: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class NormalizedEvent:
    """One platform event in the cross-channel model of CHANNELS.md §9.1.

    ``thread_key`` and ``idempotency_key`` follow §9.2 and §9.3 exactly. For reactions,
    ``external_message_id`` is the message reacted to; for receipts it is the message
    read or delivered, when the platform names one (Messenger delivery ``mids`` are in
    ``related_external_ids``; a watermark covers every earlier outbound message).
    """

    channel: str
    account_external_id: str
    event_type: str
    direction: str
    origin: str
    conversation_kind: str
    thread_key: str
    idempotency_key: str
    platform_created_at: datetime
    external_message_id: str | None = None
    parent_external_id: str | None = None
    root_external_id: str | None = None
    author_external_id: str | None = None
    author_handle: str | None = None
    author_display_name: str | None = None
    author_avatar_url: str | None = None
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    edit_seq: int | None = None
    receipt_watermark: datetime | None = None
    status: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    client_ref: str | None = None
    reaction: str | None = None
    related_external_ids: tuple[str, ...] = ()
    platform_ts_raw: str | None = None
    # The thread's title where the platform has one (a forum topic).
    subject: str | None = None
    # Platform facts kept on the message (``Message.platform_metadata``), such as a blog
    # comment's moderation status; on an edit they replace the stored ones key by key.
    platform_metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class OutboundReply:
    """What the CRM asks an adapter to send.

    ``recipient_external_id`` is the platform's address of the other party (PSID, IGSID,
    wa_id, X user id, Telegram chat id, email address, api thread id).
    ``parent_external_id`` is the message or comment answered; ``root_external_id`` the
    post, media, video or first email of the thread. ``client_ref`` is our correlation
    token: it is sent as Messenger ``metadata``, WhatsApp ``biz_opaque_callback_data``,
    the email Message-ID and the api ``webhook-id``, so echoes and statuses can be matched.
    ``private_reply`` turns a comment into a private DM (Messenger/Instagram private
    replies, addressed by ``parent_external_id``). ``tag`` is a Messenger/Instagram message
    tag such as ``HUMAN_AGENT``.
    """

    thread_key: str
    recipient_external_id: str | None
    conversation_kind: str
    text: str | None = None
    parent_external_id: str | None = None
    root_external_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    client_ref: str | None = None
    tag: str | None = None
    private_reply: bool = False
    subject: str | None = None

    def text_with_links(self) -> str:
        """The text, then each attachment's URL: for platforms that post text only."""
        links = [a.url for a in self.attachments if a.url]
        return "\n\n".join(part for part in (self.text or "", *links) if part)


@dataclass(frozen=True, kw_only=True)
class SendResult:
    """The platform's answer to a send: the id of the (first) message created.

    When the platform needs several calls (text, then each attachment), the other ids are
    in ``extra_external_ids`` and ``raw`` holds the first response.
    """

    external_message_id: str
    raw: Mapping[str, Any]
    extra_external_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class HandshakeResponse:
    """What the webhook view answers to a platform's verification GET."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, kw_only=True)
class PollResult:
    """One page of a polling platform, or of an account's history.

    ``raw_items`` are JSON bodies that ``parse`` accepts, one per item; ``next_cursor`` is
    stored with them in the same transaction; ``quota_used`` counts platform quota units
    (YouTube units; for the Graph API, the number of calls made). For ``history`` an empty
    ``next_cursor`` (``{}``) means the history is exhausted.
    """

    raw_items: list[bytes]
    next_cursor: dict[str, Any]
    quota_used: int = 0


class PayloadError(ValueError):
    """A body that is not a structurally valid payload of the platform."""


class AdapterError(Exception):
    """Base of the send errors: ``code`` is the platform's error code as a string."""

    retryable: ClassVar[bool] = False

    def __init__(self, code: str | int | None = None, message: str = "") -> None:
        self.code = None if code is None else str(code)
        self.message = message
        super().__init__(f"{self.code}: {message}" if self.code else message)


class RateLimited(AdapterError):
    """The platform asked us to slow down; retry after ``retry_after_seconds`` if known."""

    retryable = True

    def __init__(
        self,
        retry_after_seconds: float | None = None,
        code: str | int | None = None,
        message: str = "",
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(code, message)


class TransientError(AdapterError):
    """A failure worth retrying with backoff: 5xx, network errors, Meta codes 2/1200."""

    retryable = True


class PolicyError(AdapterError):
    """The platform refused the send for a reason retrying cannot fix.

    Closed reply window (Messenger 2018278, WhatsApp 131047), user unavailable (551),
    blocked bot, invalid request. Never retried.
    """


class AuthError(AdapterError):
    """The credentials were refused (Meta 190, HTTP 401): the account needs attention."""


class HistoryUnavailable(AdapterError):
    """The platform offers no API to read an account's past conversations.

    Raised by ``Adapter.history`` for WhatsApp, X, Telegram, email and the api channel:
    their history only ever reaches us by webhook (or ``getUpdates``) as it happens.
    Never retried.
    """


class Adapter(abc.ABC):
    """The protocol of one platform. Adapters are stateless; one instance serves all accounts."""

    platform: ClassVar[str]
    # Whether the platform is read by ``poll`` rather than pushed to a webhook.
    is_polling: ClassVar[bool] = False
    # Whether ``history`` can read the account's past through the platform's API.
    supports_history: ClassVar[bool] = False

    def handshake(
        self, query: Mapping[str, str], credentials: Mapping[str, Any]
    ) -> HandshakeResponse | None:
        """Answer the platform's verification GET, or None when it has no handshake."""
        return None

    @abc.abstractmethod
    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """Tell whether a webhook request is authentic (constant-time comparison)."""

    @abc.abstractmethod
    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """Turn one raw body (or polled item) into normalized events; pure."""

    def account_ids(self, body: bytes) -> frozenset[str]:
        """The account external ids a webhook body addresses, for routing a shared URL.

        Empty when the platform's payload does not name the account (the URL does).
        """
        return frozenset()

    def sent_at(self, payload: Any) -> datetime | None:
        """When the platform says it sent this (verified, parsed JSON) webhook body, for
        replay protection; None when its protocol does not say, or the body is unreadable.
        """
        return None

    @abc.abstractmethod
    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """Deliver ``reply`` through the platform's documented send API."""

    def poll(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
    ) -> PollResult:
        """Fetch one page of new items; only polling platforms implement it."""
        raise NotImplementedError(f"{self.platform} is not a polling platform")

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
        """Fetch one page of the account's recent history (backfill).

        Start with ``cursor=None`` and pass each ``next_cursor`` back until it is ``{}``
        (exhausted). ``raw_items`` are bodies that ``parse`` accepts, shaped like the
        webhook (or polled item) that carries the same object, so thread keys and
        idempotency keys are identical and ingest dedupes an item seen both ways. Items
        older than ``since`` are left out. Errors are those of ``poll``;
        ``HistoryUnavailable`` when the platform has no history API.
        """
        raise HistoryUnavailable(
            "history_unavailable", f"{self.platform} offers no API to read past conversations"
        )
