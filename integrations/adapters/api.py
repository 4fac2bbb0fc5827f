"""The generic ``api`` channel: any tool speaks normalized messages, signed both ways.

Signing is the Standard Webhooks specification (https://www.standardwebhooks.com/):
headers ``webhook-id``, ``webhook-timestamp`` (epoch seconds) and ``webhook-signature``
(space-separated ``v1,<base64 HMAC-SHA256>`` values) over ``{id}.{timestamp}.{body}``,
keyed with the account's ``secret`` (``whsec_`` + base64 key; a secret that is not
base64 is used as raw UTF-8 bytes). Timestamps more than five minutes away are refused.

Inbound body, POSTed by the tool to the account's ``webhook_url`` — one event, or
``{"events": [...]}``::

    {"type": "message.created",            # or message.edited, message.deleted,
                                           # reaction.added, reaction.removed,
                                           # receipt.delivered, receipt.read, status.failed
     "id": "msg-1",                        # the tool's message id (required)
     "thread": "ticket-42",                # the tool's conversation id (required)
     "kind": "direct",                     # direct | comment_thread | mention | email
     "direction": "inbound",               # or "outbound" for a reply made in the tool
     "author": {"id": "u-7", "handle": "jane", "name": "Jane Roe"},
     "text": "Bonjour !", "parent": "msg-0", "root": "msg-0",
     "attachments": [{"kind": "image", "url": "https://…", "mime": "image/png"}],
     "created_at": "2024-06-10T10:00:00Z", # required, ISO 8601 with offset
     "edit_seq": 1, "reaction": "👍", "client_ref": "…",
     "error": {"code": "…", "message": "…"}}

Our replies are POSTed to ``callback_url`` with the same signing; ``webhook-id`` is
derived from the reply's ``client_ref`` so a retried delivery keeps its id. Body::

    {"type": "message.created", "id": "<client_ref>", "account": "<account>",
     "thread": "<thread>", "recipient": "<recipient>", "kind": "direct", "text": "…",
     "parent": "…", "root": "…", "attachments": [...], "subject": null}

The tool answers 2xx, optionally with ``{"id": "<its message id>"}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from crm.webhooks.signing import (  # noqa: F401  (re-exported: one implementation)
    TOLERANCE_SECONDS,
    secret_key,
    sign,
    signed_headers,
    verify_signature,
)

from . import _http
from ._payload import (
    as_dict,
    credential,
    from_iso,
    load_object,
    opt_dict,
    opt_int,
    opt_list,
    opt_str,
    req_str,
)
from .base import (
    Adapter,
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
    PayloadError,
    PolicyError,
    SendResult,
)

_TYPES = frozenset(EventType) - {EventType.STATUS_SENT, EventType.TYPING}
_STATUSES = {
    EventType.RECEIPT_DELIVERED: DeliveryStatus.DELIVERED,
    EventType.RECEIPT_READ: DeliveryStatus.READ,
    EventType.STATUS_FAILED: DeliveryStatus.FAILED,
}
_KINDS = frozenset(ConversationKind)
_ATTACHMENT_KINDS = frozenset(AttachmentKind)


def _attachment(raw: Any, where: str) -> Attachment:
    item = as_dict(raw, where)
    kind = opt_str(item, "kind") or "file"
    return Attachment(
        kind=kind if kind in _ATTACHMENT_KINDS else AttachmentKind.FILE,
        url=opt_str(item, "url"),
        platform_media_id=opt_str(item, "id"),
        mime=opt_str(item, "mime"),
        size=opt_int(item, "size"),
        caption=opt_str(item, "caption"),
        sha256=opt_str(item, "sha256"),
    )


def _event(item: dict[str, Any], *, account: str, where: str) -> NormalizedEvent:
    event_type = req_str(item, "type", where)
    if event_type not in _TYPES:
        raise PayloadError(f"{where}.type {event_type!r} is not supported")
    message_id = req_str(item, "id", where)
    thread = req_str(item, "thread", where)
    kind = opt_str(item, "kind") or ConversationKind.DIRECT
    if kind not in _KINDS:
        raise PayloadError(f"{where}.kind {kind!r} is not supported")
    author = opt_dict(item, "author", where)
    author_id = opt_str(author, "id")
    outbound = item.get("direction") == Direction.OUTBOUND
    error = opt_dict(item, "error", where)
    edit_seq = opt_int(item, "edit_seq")
    reaction = opt_str(item, "reaction")
    suffix = {
        EventType.MESSAGE_CREATED: "",
        EventType.MESSAGE_EDITED: f":edit:{edit_seq or 1}",
        EventType.MESSAGE_DELETED: ":deleted",
        EventType.REACTION_ADDED: f":react:{author_id}:added:{reaction}",
        EventType.REACTION_REMOVED: f":react:{author_id}:removed:{reaction}",
    }.get(EventType(event_type), f":{event_type}")
    is_signal = event_type in _STATUSES
    created_raw = item.get("created_at")
    return NormalizedEvent(
        channel=Channel.API,
        account_external_id=account,
        event_type=event_type,
        direction=Direction.SYSTEM
        if is_signal
        else (Direction.OUTBOUND if outbound else Direction.INBOUND),
        origin=Origin.BRAND_VIA_NATIVE_APP if outbound else Origin.CUSTOMER,
        conversation_kind=kind,
        thread_key=f"{account}:{thread}",
        external_message_id=message_id,
        parent_external_id=opt_str(item, "parent"),
        root_external_id=opt_str(item, "root"),
        author_external_id=author_id,
        author_handle=opt_str(author, "handle"),
        author_display_name=opt_str(author, "name"),
        text=opt_str(item, "text"),
        attachments=tuple(
            _attachment(raw, f"{where}.attachments[{n}]")
            for n, raw in enumerate(opt_list(item, "attachments", where))
        ),
        edit_seq=(edit_seq or 1) if event_type == EventType.MESSAGE_EDITED else None,
        status=_STATUSES.get(EventType(event_type)),
        error_code=opt_str(error, "code"),
        error_detail=opt_str(error, "message"),
        client_ref=opt_str(item, "client_ref"),
        reaction=reaction,
        idempotency_key=f"api:{account}:{message_id}{suffix}",
        platform_created_at=from_iso(created_raw, f"{where}.created_at"),
        platform_ts_raw=str(created_raw),
    )


class ApiAdapter(Adapter):
    """A third-party tool connected through the generic channel."""

    platform = "api"

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """Standard Webhooks signature with the account's ``secret``."""
        secret = credential(credentials, "secret")
        return secret is not None and verify_signature(secret, headers, body)

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """One event or an ``events`` batch in the schema of the module docstring."""
        payload = load_object(body)
        if "events" in payload:
            items = [
                as_dict(raw, f"events[{n}]")
                for n, raw in enumerate(opt_list(payload, "events", "body"))
            ]
        else:
            items = [payload]
        return [
            _event(item, account=account_external_id, where=f"events[{n}]")
            for n, item in enumerate(items)
        ]

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """POST the reply to the tool's ``callback_url``, signed; ``base_url`` is unused."""
        secret = _http.require(credentials, "secret")
        url = _http.require(credentials, "callback_url")
        if not reply.text and not reply.attachments:
            raise PolicyError("empty", "nothing to send")
        client_ref = reply.client_ref or uuid.uuid4().hex
        prefix = f"{account_external_id}:"
        thread = reply.thread_key.removeprefix(prefix)
        payload = {
            "type": EventType.MESSAGE_CREATED.value,
            "id": client_ref,
            "account": account_external_id,
            "thread": thread,
            "recipient": reply.recipient_external_id,
            "kind": reply.conversation_kind,
            "text": reply.text,
            "parent": reply.parent_external_id,
            "root": reply.root_external_id,
            "subject": reply.subject,
            "attachments": [
                {
                    k: v
                    for k, v in {
                        "kind": a.kind,
                        "url": a.url,
                        "id": a.platform_media_id,
                        "mime": a.mime,
                        "caption": a.caption,
                    }.items()
                    if v is not None
                }
                for a in reply.attachments
            ],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = signed_headers(secret, f"msg_{client_ref}", body)
        headers["Content-Type"] = "application/json"
        response = _http.request(client, "POST", url, content=body, headers=headers)
        data = _http.json_body(response)
        _http.raise_for_status(
            response,
            code=opt_str(
                data.get("error") if isinstance(data.get("error"), dict) else None, "code"
            ),
            message=str(data.get("error") or response.text[:300] or response.reason_phrase),
        )
        return SendResult(external_message_id=opt_str(data, "id") or client_ref, raw=data)
