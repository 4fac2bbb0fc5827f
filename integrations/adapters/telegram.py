"""Telegram Bot API, webhook mode and ``getUpdates`` polling (CHANNELS.md §6).

* Webhook authenticity: the ``secret_token`` given to ``setWebhook`` comes back in
  ``X-Telegram-Bot-Api-Secret-Token`` (no body signature). Without a configured
  ``secret_token`` the account polls and every webhook request is refused.
* One Update per body, in webhook and polling mode alike; ``poll`` returns each Update
  of a ``getUpdates`` page as its own raw item and confirms them through the next
  ``offset``.
* Message ids are unique per chat only, so ``external_message_id`` is ``<chat id>:<message
  id>``. Threads are ``bot_id:chat_id`` plus ``:message_thread_id`` for forum topics
  (``is_topic_message``); reply threads of ordinary groups stay in the chat's thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from . import _http
from ._payload import (
    as_dict,
    compare,
    credential,
    from_epoch,
    header,
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

_MESSAGE_UPDATES = {
    "message": False,
    "channel_post": False,
    "business_message": False,
    "edited_message": True,
    "edited_channel_post": True,
    "edited_business_message": True,
}
# getUpdates only returns ``message_reaction`` when asked for explicitly.
ALLOWED_UPDATES = [*sorted(_MESSAGE_UPDATES), "message_reaction", "deleted_business_messages"]
_FILE_KINDS = {
    "document": AttachmentKind.FILE,
    "video": AttachmentKind.VIDEO,
    "animation": AttachmentKind.VIDEO,
    "video_note": AttachmentKind.VIDEO,
    "audio": AttachmentKind.AUDIO,
    "voice": AttachmentKind.AUDIO,
    "sticker": AttachmentKind.STICKER,
}
_SEND_METHODS = {
    AttachmentKind.IMAGE: ("sendPhoto", "photo"),
    AttachmentKind.VIDEO: ("sendVideo", "video"),
    AttachmentKind.AUDIO: ("sendAudio", "audio"),
}


def _attachments(message: dict[str, Any], where: str) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    caption = opt_str(message, "caption")
    sizes = [p for p in opt_list(message, "photo", where) if isinstance(p, dict)]
    if sizes:
        # PhotoSize array, smallest first; keep the largest rendition.
        best = max(sizes, key=lambda p: (opt_int(p, "file_size") or 0, opt_int(p, "width") or 0))
        found.append(
            Attachment(
                kind=AttachmentKind.IMAGE,
                platform_media_id=opt_str(best, "file_id"),
                size=opt_int(best, "file_size"),
                caption=caption,
            )
        )
    for key, kind in _FILE_KINDS.items():
        media = opt_dict(message, key, where)
        if media is None:
            continue
        found.append(
            Attachment(
                kind=kind,
                platform_media_id=opt_str(media, "file_id"),
                mime=opt_str(media, "mime_type"),
                size=opt_int(media, "file_size"),
                caption=caption or opt_str(media, "file_name") or opt_str(media, "emoji"),
            )
        )
    location = opt_dict(message, "location", where)
    if location is not None:
        url = f"geo:{location.get('latitude')},{location.get('longitude')}"
        found.append(Attachment(kind=AttachmentKind.LOCATION, url=url))
    if opt_dict(message, "contact", where) is not None:
        found.append(
            Attachment(
                kind=AttachmentKind.SHARE, caption=opt_str(message["contact"], "phone_number")
            )
        )
    return tuple(found)


def _display_name(person: Mapping[str, Any] | None) -> str | None:
    names = [opt_str(person, "first_name"), opt_str(person, "last_name")]
    joined = " ".join(n for n in names if n)
    return joined or opt_str(person, "title")


def _thread_key(bot_id: str, chat_id: str, message: Mapping[str, Any]) -> str:
    topic = (
        opt_str(message, "message_thread_id") if message.get("is_topic_message") is True else None
    )
    return f"{bot_id}:{chat_id}:{topic}" if topic else f"{bot_id}:{chat_id}"


def _message_event(
    message: dict[str, Any], *, bot_id: str, edited: bool, where: str
) -> NormalizedEvent | None:
    message_id = req_str(message, "message_id", where)
    chat = as_dict(message.get("chat"), f"{where}.chat")
    chat_id = req_str(chat, "id", f"{where}.chat")
    text = opt_str(message, "text") or opt_str(message, "caption")
    attachments = _attachments(message, where)
    if text is None and not attachments:
        return None  # Service messages (members joined, title changed…) carry no content.
    sender = opt_dict(message, "from", where) or opt_dict(message, "sender_chat", where) or chat
    author = opt_str(sender, "id")
    reply_to = opt_dict(message, "reply_to_message", where)
    parent_id = opt_str(reply_to, "message_id")
    date_raw = message.get("edit_date") if edited else message.get("date")
    edit_date = opt_int(message, "edit_date") if edited else None
    from_bot = author == bot_id
    key = f"tg:{bot_id}:{chat_id}:{message_id}"
    if edited:
        key = f"{key}:edit:{edit_date}"
    return NormalizedEvent(
        channel=Channel.TELEGRAM,
        account_external_id=bot_id,
        event_type=EventType.MESSAGE_EDITED if edited else EventType.MESSAGE_CREATED,
        direction=Direction.OUTBOUND if from_bot else Direction.INBOUND,
        origin=Origin.BRAND_VIA_NATIVE_APP if from_bot else Origin.CUSTOMER,
        conversation_kind=ConversationKind.DIRECT,
        thread_key=_thread_key(bot_id, chat_id, message),
        external_message_id=f"{chat_id}:{message_id}",
        parent_external_id=f"{chat_id}:{parent_id}" if parent_id else None,
        author_external_id=author,
        author_handle=opt_str(sender, "username"),
        author_display_name=_display_name(sender),
        text=text,
        attachments=attachments,
        edit_seq=edit_date,
        idempotency_key=key,
        platform_created_at=from_epoch(date_raw, millis=False, where=f"{where}.date"),
        platform_ts_raw=str(date_raw),
    )


def _reaction_names(reactions: list[Any]) -> set[str]:
    names: set[str] = set()
    for reaction in reactions:
        if isinstance(reaction, dict):
            name = opt_str(reaction, "emoji") or opt_str(reaction, "custom_emoji_id")
            names.add(name or str(reaction.get("type", "")))
    return names


def _reaction_events(update: dict[str, Any], *, bot_id: str, where: str) -> list[NormalizedEvent]:
    change = as_dict(update["message_reaction"], where)
    chat_id = req_str(as_dict(change.get("chat"), f"{where}.chat"), "id", f"{where}.chat")
    message_id = req_str(change, "message_id", where)
    actor = opt_dict(change, "user", where) or opt_dict(change, "actor_chat", where)
    actor_id = opt_str(actor, "id")
    old = _reaction_names(opt_list(change, "old_reaction", where))
    new = _reaction_names(opt_list(change, "new_reaction", where))
    date_raw = change.get("date")
    created = from_epoch(date_raw, millis=False, where=f"{where}.date")
    events = []
    for action, names in (("added", new - old), ("removed", old - new)):
        for name in sorted(names):
            events.append(
                NormalizedEvent(
                    channel=Channel.TELEGRAM,
                    account_external_id=bot_id,
                    event_type=EventType.REACTION_ADDED
                    if action == "added"
                    else EventType.REACTION_REMOVED,
                    direction=Direction.INBOUND,
                    origin=Origin.CUSTOMER,
                    conversation_kind=ConversationKind.DIRECT,
                    thread_key=f"{bot_id}:{chat_id}",
                    external_message_id=f"{chat_id}:{message_id}",
                    author_external_id=actor_id,
                    author_handle=opt_str(actor, "username"),
                    author_display_name=_display_name(actor),
                    reaction=name,
                    idempotency_key=f"tg:{bot_id}:{chat_id}:{message_id}:react:{actor_id}:{action}:{name}:{date_raw}",
                    platform_created_at=created,
                    platform_ts_raw=str(date_raw),
                )
            )
    return events


def _delete_events(update: dict[str, Any], *, bot_id: str, where: str) -> list[NormalizedEvent]:
    deleted = as_dict(update["deleted_business_messages"], where)
    chat_id = req_str(as_dict(deleted.get("chat"), f"{where}.chat"), "id", f"{where}.chat")
    # The update carries no time; the moment we read it is the closest truth.
    now = datetime.now(tz=UTC)
    return [
        NormalizedEvent(
            channel=Channel.TELEGRAM,
            account_external_id=bot_id,
            event_type=EventType.MESSAGE_DELETED,
            direction=Direction.INBOUND,
            origin=Origin.CUSTOMER,
            conversation_kind=ConversationKind.DIRECT,
            thread_key=f"{bot_id}:{chat_id}",
            external_message_id=f"{chat_id}:{message_id}",
            idempotency_key=f"tg:{bot_id}:{chat_id}:{message_id}:deleted",
            platform_created_at=now,
        )
        for message_id in (
            str(m) for m in opt_list(deleted, "message_ids", where) if isinstance(m, int)
        )
    ]


def _raise_for_bot_api_error(response: httpx.Response, data: Mapping[str, Any]) -> None:
    if data.get("ok") is True and response.status_code < 400:
        return
    code = (
        data.get("error_code") if isinstance(data.get("error_code"), int) else response.status_code
    )
    message = str(data.get("description") or response.text[:300])
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    if code == 429:
        wait = parameters.get("retry_after")
        seconds = (
            float(wait) if isinstance(wait, int | float) else _http.retry_after(response.headers)
        )
        raise RateLimited(seconds, code, message)
    if code in (401, 404):
        # Telegram answers 404 for an unknown bot token, as for any unknown method.
        raise AuthError(code, message)
    if code >= 500:
        raise TransientError(code, message)
    if "migrate_to_chat_id" in parameters:
        message = f"{message} (migrate_to_chat_id={parameters['migrate_to_chat_id']})"
    raise PolicyError(code, message)


def _call(
    client: httpx.Client, base_url: str, token: str, method: str, payload: Mapping[str, Any]
) -> Any:
    response = _http.request(
        client, "POST", _http.join(base_url, f"/bot{token}/{method}"), json=payload
    )
    data = _http.json_body(response)
    _raise_for_bot_api_error(response, data)
    return data.get("result")


def _chat_id(value: str) -> int | str:
    # Numeric chat ids must travel as integers; ``@channelusername`` stays a string.
    return int(value) if value.lstrip("-").isdigit() else value


class TelegramAdapter(Adapter):
    """Updates and sends of one Telegram bot."""

    platform = "telegram"
    is_polling = True

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """Compare ``X-Telegram-Bot-Api-Secret-Token`` with the configured ``secret_token``."""
        secret = credential(credentials, "secret_token")
        if secret is None:
            return False
        return compare(secret, header(headers, "X-Telegram-Bot-Api-Secret-Token"))

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """One Update: a message or edit, reactions, or business deletes."""
        update = load_object(body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise PayloadError("update_id is required")
        bot_id = account_external_id
        for key, edited in _MESSAGE_UPDATES.items():
            if key in update:
                message = as_dict(update[key], key)
                event = _message_event(message, bot_id=bot_id, edited=edited, where=key)
                return [event] if event is not None else []
        if "message_reaction" in update:
            return _reaction_events(update, bot_id=bot_id, where="message_reaction")
        if "deleted_business_messages" in update:
            return _delete_events(update, bot_id=bot_id, where="deleted_business_messages")
        return []

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """``sendMessage`` for the text, then ``sendPhoto``/``sendDocument``… per attachment."""
        token = _http.require(credentials, "bot_token")
        if not reply.recipient_external_id:
            raise PolicyError("no_recipient", "a Telegram message needs the chat id")
        common: dict[str, Any] = {"chat_id": _chat_id(reply.recipient_external_id)}
        key_parts = reply.thread_key.split(":")
        if len(key_parts) == 3 and key_parts[2].isdigit():
            common["message_thread_id"] = int(key_parts[2])
        if reply.parent_external_id:
            parent = reply.parent_external_id.rsplit(":", 1)[-1]
            if parent.isdigit():
                # Bot API 7.0 reply_parameters; tolerate a parent deleted meanwhile.
                common["reply_parameters"] = {
                    "message_id": int(parent),
                    "allow_sending_without_reply": True,
                }
        calls: list[tuple[str, dict[str, Any]]] = []
        if reply.text:
            calls.append(("sendMessage", {**common, "text": reply.text}))
        for attachment in reply.attachments:
            source = attachment.platform_media_id or attachment.url
            if not source:
                continue
            method, field = _SEND_METHODS.get(attachment.kind, ("sendDocument", "document"))
            payload = {**common, field: source}
            if attachment.caption:
                payload["caption"] = attachment.caption
            calls.append((method, payload))
        if not calls:
            raise PolicyError("empty", "nothing to send")
        results = [_call(client, base_url, token, method, payload) for method, payload in calls]
        ids = []
        for result in results:
            message = result if isinstance(result, dict) else {}
            chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
            chat_id = opt_str(chat, "id") or reply.recipient_external_id
            ids.append(f"{chat_id}:{opt_str(message, 'message_id') or ''}")
        first = results[0] if isinstance(results[0], dict) else {}
        return SendResult(external_message_id=ids[0], raw=first, extra_external_ids=tuple(ids[1:]))

    def poll(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
    ) -> PollResult:
        """One short ``getUpdates`` call from ``cursor["offset"]``.

        Passing ``offset`` greater than an update's id confirms it, so the next cursor is
        one past the highest id returned; it must be stored with the items, or the same
        updates come back (which idempotency keys then absorb).
        """
        token = _http.require(credentials, "bot_token")
        offset = (cursor or {}).get("offset")
        payload: dict[str, Any] = {"limit": 100, "timeout": 0, "allowed_updates": ALLOWED_UPDATES}
        if isinstance(offset, int):
            payload["offset"] = offset
        result = _call(client, base_url, token, "getUpdates", payload)
        updates = [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        next_offset = max(ids) + 1 if ids else offset
        return PollResult(
            raw_items=[json.dumps(u, ensure_ascii=False).encode("utf-8") for u in updates],
            next_cursor={"offset": next_offset},
            quota_used=0,
        )
