"""WhatsApp Cloud API: inbound messages and outbound statuses (CHANNELS.md §4).

One webhook shape (``object: "whatsapp_business_account"``, ``changes[].field:
"messages"``) carries customers' messages in ``value.messages[]`` and the statuses of our
sends in ``value.statuses[]``; both are routed by ``value.metadata.phone_number_id``, the
brand account's external id. Cloud API sends are not echoed: outbound messages are known
by the ``wamid`` returned from ``POST /{phone-number-id}/messages``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    SendResult,
)

API_VERSION = meta.GRAPH_VERSION

_MEDIA_KINDS = {
    "image": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "audio": AttachmentKind.AUDIO,
    "voice": AttachmentKind.AUDIO,
    "document": AttachmentKind.FILE,
    "sticker": AttachmentKind.STICKER,
}
_STATUS_EVENTS = {
    "sent": (EventType.STATUS_SENT, DeliveryStatus.SENT),
    "delivered": (EventType.RECEIPT_DELIVERED, DeliveryStatus.DELIVERED),
    "read": (EventType.RECEIPT_READ, DeliveryStatus.READ),
    "played": (EventType.RECEIPT_READ, DeliveryStatus.PLAYED),
    "failed": (EventType.STATUS_FAILED, DeliveryStatus.FAILED),
}
_SEND_MEDIA = {
    AttachmentKind.IMAGE: "image",
    AttachmentKind.VIDEO: "video",
    AttachmentKind.AUDIO: "audio",
    AttachmentKind.STICKER: "sticker",
}
# Message types that are customer content; ``system`` (number changed) and other
# notifications are skipped.
_CONTENT_TYPES = frozenset(
    {"text", "location", "contacts", "interactive", "button", "reaction", "unsupported"}
) | frozenset(_MEDIA_KINDS)


def _content(
    message: dict[str, Any], kind: str, where: str
) -> tuple[str | None, tuple[Attachment, ...]]:
    """Text and attachments of one inbound message by its ``type``."""
    if kind == "text":
        return opt_str(opt_dict(message, "text", where), "body"), ()
    if kind in _MEDIA_KINDS:
        media = opt_dict(message, kind, where) or {}
        caption = opt_str(media, "caption")
        attachment = Attachment(
            kind=_MEDIA_KINDS[kind],
            url=opt_str(media, "url"),
            platform_media_id=opt_str(media, "id"),
            mime=opt_str(media, "mime_type"),
            sha256=opt_str(media, "sha256"),
            caption=caption or opt_str(media, "filename"),
        )
        return caption, (attachment,)
    if kind == "location":
        place = opt_dict(message, "location", where) or {}
        lat, lon = place.get("latitude"), place.get("longitude")
        label = opt_str(place, "name") or opt_str(place, "address")
        return label, (
            Attachment(kind=AttachmentKind.LOCATION, url=f"geo:{lat},{lon}", caption=label),
        )
    if kind == "interactive":
        interactive = opt_dict(message, "interactive", where) or {}
        answer = opt_dict(interactive, "button_reply", where) or opt_dict(
            interactive, "list_reply", where
        )
        return opt_str(answer, "title"), ()
    if kind == "button":
        return opt_str(opt_dict(message, "button", where), "text"), ()
    if kind == "contacts":
        names = [
            opt_str(opt_dict(card, "name", where), "formatted_name")
            for card in opt_list(message, "contacts", where)
            if isinstance(card, dict)
        ]
        return ", ".join(n for n in names if n) or None, (Attachment(kind=AttachmentKind.SHARE),)
    return None, ()


def _message_event(
    message: dict[str, Any], *, pnid: str, names: Mapping[str, str], where: str
) -> NormalizedEvent | None:
    kind = opt_str(message, "type") or ""
    if kind not in _CONTENT_TYPES:
        return None
    wamid = req_str(message, "id", where)
    wa_id = req_str(message, "from", where)
    timestamp = message.get("timestamp")
    common: dict[str, Any] = {
        "channel": Channel.WHATSAPP,
        "account_external_id": pnid,
        "direction": Direction.INBOUND,
        "origin": Origin.CUSTOMER,
        "conversation_kind": ConversationKind.DIRECT,
        "thread_key": f"{pnid}:{wa_id}",
        "author_external_id": wa_id,
        "author_display_name": names.get(wa_id),
        "idempotency_key": f"wa:{pnid}:{wamid}",
        "platform_created_at": from_epoch(timestamp, millis=False, where=f"{where}.timestamp"),
        "platform_ts_raw": str(timestamp),
    }
    if kind == "reaction":
        reaction = as_dict(message.get("reaction"), f"{where}.reaction")
        emoji = opt_str(reaction, "emoji")
        return NormalizedEvent(
            **common,
            # An empty emoji is WhatsApp's way of removing a reaction.
            event_type=EventType.REACTION_ADDED if emoji else EventType.REACTION_REMOVED,
            external_message_id=req_str(reaction, "message_id", f"{where}.reaction"),
            reaction=emoji or None,
        )
    text, attachments = _content(message, kind, where)
    error_code = error_detail = None
    if kind == "unsupported":
        errors = [e for e in opt_list(message, "errors", where) if isinstance(e, dict)]
        unsupported = opt_dict(message, "unsupported", where)
        error_code = opt_str(errors[0], "code") if errors else "131051"
        error_detail = f"unsupported message type: {opt_str(unsupported, 'type') or 'unknown'}"
    return NormalizedEvent(
        **common,
        event_type=EventType.MESSAGE_CREATED,
        external_message_id=wamid,
        parent_external_id=opt_str(opt_dict(message, "context", where), "id"),
        text=text,
        attachments=attachments,
        error_code=error_code,
        error_detail=error_detail,
    )


def _status_event(status: dict[str, Any], *, pnid: str, where: str) -> NormalizedEvent | None:
    name = opt_str(status, "status") or ""
    if name not in _STATUS_EVENTS:
        return None
    event_type, delivery = _STATUS_EVENTS[name]
    wamid = req_str(status, "id", where)
    recipient = req_str(status, "recipient_id", where)
    timestamp = status.get("timestamp")
    errors = [e for e in opt_list(status, "errors", where) if isinstance(e, dict)]
    first = errors[0] if errors else None
    detail = None
    if first is not None:
        data = opt_dict(first, "error_data", where)
        detail = opt_str(data, "details") or opt_str(first, "message") or opt_str(first, "title")
    return NormalizedEvent(
        channel=Channel.WHATSAPP,
        account_external_id=pnid,
        event_type=event_type,
        direction=Direction.SYSTEM,
        # Cloud API statuses only ever describe messages sent through the API.
        origin=Origin.BRAND_VIA_CRM,
        conversation_kind=ConversationKind.DIRECT,
        thread_key=f"{pnid}:{recipient}",
        external_message_id=wamid,
        author_external_id=recipient,
        status=delivery,
        error_code=opt_str(first, "code"),
        error_detail=detail,
        client_ref=opt_str(status, "biz_opaque_callback_data"),
        idempotency_key=f"wa:{pnid}:{wamid}:status:{name}",
        platform_created_at=from_epoch(timestamp, millis=False, where=f"{where}.timestamp"),
        platform_ts_raw=str(timestamp),
    )


class WhatsAppAdapter(meta.MetaAdapter):
    """WhatsApp Cloud API messages and statuses of one phone number."""

    platform = "whatsapp"

    def account_ids(self, body: bytes) -> frozenset[str]:
        """The ``value.metadata.phone_number_id`` values (entry ids are WABA ids)."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return frozenset()
        found: set[str] = set()
        for entry in payload.get("entry", []) if isinstance(payload, dict) else []:
            for change in entry.get("changes", []) if isinstance(entry, dict) else []:
                value = change.get("value") if isinstance(change, dict) else None
                metadata = value.get("metadata") if isinstance(value, dict) else None
                pnid = opt_str(metadata, "phone_number_id") if isinstance(metadata, dict) else None
                if pnid:
                    found.add(pnid)
        return frozenset(found)

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """Every message and status addressed to the phone number."""
        events: list[NormalizedEvent] = []
        payload = load_object(body)
        for index, entry in enumerate(
            meta.entries(payload, frozenset({"whatsapp_business_account"}))
        ):
            for position, raw in enumerate(opt_list(entry, "changes", f"entry[{index}]")):
                where = f"entry[{index}].changes[{position}]"
                change = as_dict(raw, where)
                if change.get("field") != "messages":
                    continue
                value = as_dict(change.get("value"), f"{where}.value")
                pnid = req_str(
                    as_dict(value.get("metadata"), f"{where}.value.metadata"),
                    "phone_number_id",
                    f"{where}.value.metadata",
                )
                if pnid != account_external_id:
                    continue
                names = {}
                for contact in opt_list(value, "contacts", f"{where}.value"):
                    contact_dict = as_dict(contact, f"{where}.value.contacts[]")
                    wa_id = opt_str(contact_dict, "wa_id")
                    name = opt_str(opt_dict(contact_dict, "profile", where), "name")
                    if wa_id and name:
                        names[wa_id] = name
                for n, message in enumerate(opt_list(value, "messages", f"{where}.value")):
                    item_where = f"{where}.value.messages[{n}]"
                    event = _message_event(
                        as_dict(message, item_where), pnid=pnid, names=names, where=item_where
                    )
                    if event is not None:
                        events.append(event)
                for n, status in enumerate(opt_list(value, "statuses", f"{where}.value")):
                    item_where = f"{where}.value.statuses[{n}]"
                    event = _status_event(as_dict(status, item_where), pnid=pnid, where=item_where)
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
        """``POST /{phone-number-id}/messages``: the text, then one message per attachment."""
        token = _http.require(credentials, "access_token")
        if not reply.recipient_external_id:
            raise PolicyError("no_recipient", "a WhatsApp message needs the wa_id")
        # The docs ask for the international form with a leading ``+``.
        to = reply.recipient_external_id
        to = to if to.startswith("+") else f"+{to}"
        parts: list[dict[str, Any]] = []
        if reply.text:
            parts.append({"type": "text", "text": {"preview_url": False, "body": reply.text}})
        for attachment in reply.attachments:
            if not attachment.url:
                continue
            kind = _SEND_MEDIA.get(attachment.kind, "document")
            media: dict[str, Any] = {"link": attachment.url}
            if attachment.caption and kind in {"image", "video", "document"}:
                media["caption"] = attachment.caption
            parts.append({"type": kind, kind: media})
        if not parts:
            raise PolicyError("empty", "nothing to send")
        url = _http.join(base_url, f"/{API_VERSION}/{account_external_id}/messages")
        results: list[dict[str, Any]] = []
        for part in parts:
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                **part,
            }
            if reply.parent_external_id:
                body["context"] = {"message_id": reply.parent_external_id}
            if reply.client_ref:
                body["biz_opaque_callback_data"] = reply.client_ref
            results.append(meta.post(client, url, token=token, json_body=body))
        ids = []
        for result in results:
            messages = result.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else {}
            ids.append(str(first.get("id", "")) if isinstance(first, dict) else "")
        return SendResult(
            external_message_id=ids[0], raw=results[0], extra_external_ids=tuple(ids[1:])
        )
