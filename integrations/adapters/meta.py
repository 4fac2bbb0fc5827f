"""The Meta layer shared by Facebook, Instagram and WhatsApp (CHANNELS.md §0).

* Handshake: ``GET ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`` answered with
  the raw challenge when the verify token matches (§0.1).
* Authenticity: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>``
  over the bytes as received; Meta sends ASCII-escaped JSON, so re-serialising the parsed
  body would break the signature (§0.2).
* Graph errors: ``{"error": {"code", "error_subcode", "message", …}}`` mapped to the
  adapter errors with the codes of §0.5 and §4(f); back-off hints come from
  ``X-Business-Use-Case-Usage`` (``estimated_time_to_regain_access`` in minutes) or
  ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from . import _http
from ._payload import (
    as_dict,
    as_list,
    compare,
    credential,
    from_epoch,
    from_iso,
    header,
    hmac_sha256,
    newest_epoch,
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
    ConversationKind,
    Direction,
    EventType,
    HandshakeResponse,
    NormalizedEvent,
    Origin,
    PayloadError,
    PolicyError,
    PollResult,
    RateLimited,
    TransientError,
)

GRAPH_VERSION = "v21.0"

# Rate limits: app (4), user (17), Page (32), custom (613), Business Use Case
# (80001-80014), WhatsApp throughput (130429), pair rate (131056), spam rate (131048).
RATE_LIMIT_CODES = frozenset(
    {4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006, 80007, 80008, 80014, 130429}
    | {131048, 131056, 131057}
)
# "Temporary issue / unknown error": retry with backoff (§0.5, WhatsApp 131000/131016).
TRANSIENT_CODES = frozenset({1, 2, 1200, 131000, 131016})
# Token invalid or expired, session invalid: the account must be reconnected.
AUTH_CODES = frozenset({102, 190})


def handshake(query: Mapping[str, str], credentials: Mapping[str, Any]) -> HandshakeResponse:
    """Answer Meta's verification GET: echo ``hub.challenge`` verbatim or refuse with 403."""
    expected = credential(credentials, "verify_token")
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if expected is None or mode != "subscribe" or challenge is None or not compare(expected, token):
        return HandshakeResponse(status=403, body=b"verification failed")
    return HandshakeResponse(status=200, body=challenge.encode("utf-8"))


def verify_signature(
    headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
) -> bool:
    """Check ``X-Hub-Signature-256`` against the raw body with the app secret."""
    secret = credential(credentials, "app_secret")
    received = header(headers, "X-Hub-Signature-256")
    if secret is None or received is None or not received.startswith("sha256="):
        return False
    expected = hmac_sha256(secret, bytes(body)).hex()
    # Meta documents lowercase hex; accept uppercase too rather than fail on a proxy's whim.
    return compare(expected, received.removeprefix("sha256=").strip().lower())


def entries(payload: Mapping[str, Any], objects: frozenset[str]) -> Iterator[dict[str, Any]]:
    """The ``entry[]`` items of an envelope whose ``object`` is one of ``objects``."""
    obj = payload.get("object")
    if not isinstance(obj, str):
        raise PayloadError("body.object is required")
    if obj not in objects:
        raise PayloadError(f"unsupported object {obj!r}")
    for index, entry in enumerate(as_list(payload.get("entry"), "body.entry")):
        yield as_dict(entry, f"entry[{index}]")


def entry_ids(body: bytes) -> frozenset[str]:
    """Every ``entry[].id`` of a Meta envelope; empty when the body is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return frozenset()
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        return frozenset()
    ids = {opt_str(entry, "id") for entry in payload["entry"] if isinstance(entry, dict)}
    return frozenset(i for i in ids if i)


def buc_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``X-Business-Use-Case-Usage`` (largest regain time, in minutes)."""
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes: list[float] = []
    if isinstance(usage, dict):
        for items in usage.values():
            for item in items if isinstance(items, list) else []:
                value = (
                    item.get("estimated_time_to_regain_access") if isinstance(item, dict) else None
                )
                if isinstance(value, int | float) and not isinstance(value, bool):
                    minutes.append(float(value))
    return max(minutes) * 60.0 if minutes else None


def raise_for_graph_error(response: httpx.Response) -> None:
    """Map a Graph API error answer to one of the adapter send errors."""
    if response.status_code < 400:
        return
    body = _http.json_body(response)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode")
    message = str(error.get("message") or response.text[:300] or response.reason_phrase)
    label = f"{code}/{subcode}" if code is not None and isinstance(subcode, int) else code
    if isinstance(error.get("error_data"), dict) and error["error_data"].get("details"):
        message = f"{message} ({error['error_data']['details']})"
    if code in RATE_LIMIT_CODES or response.status_code == 429:
        wait = buc_retry_after(response.headers)
        if wait is None:
            wait = _http.retry_after(response.headers)
        raise RateLimited(wait, label or response.status_code, message)
    if code in AUTH_CODES or response.status_code == 401:
        raise AuthError(label or response.status_code, message)
    if code in TRANSIENT_CODES or response.status_code >= 500 or error.get("is_transient") is True:
        raise TransientError(label or response.status_code, message)
    # Everything else (2018278 outside window, 551 unavailable, 131047, 100 bad param…)
    # is the platform refusing this very request.
    raise PolicyError(label or response.status_code, message)


def post(
    client: httpx.Client,
    url: str,
    *,
    token: str,
    json_body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST to the Graph API with a bearer token and return the JSON answer."""
    response = _http.request(
        client,
        "POST",
        url,
        json=json_body,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    raise_for_graph_error(response)
    return _http.json_body(response)


def get(
    client: httpx.Client,
    url: str,
    *,
    token: str,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """GET from the Graph API with a bearer token; errors mapped as for ``post``."""
    response = _http.request(
        client,
        "GET",
        url,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    raise_for_graph_error(response)
    return _http.json_body(response)


# History (backfill) -------------------------------------------------------------------
# Graph lists are pages of ``{"data": [...], "paging": {"cursors": {"after": …}, "next": …}}``;
# ``next`` is present only when there is a next page, so it decides, ``after`` addresses it.
HISTORY_PAGE_SIZE = 25
HISTORY_INNER_PAGE_SIZE = 100
_CONVERSATION_MESSAGE_FIELDS = "id,message,from,to,created_time,attachments"


def graph_time(value: Any, where: str) -> datetime:
    """A Graph timestamp (``2024-06-10T10:00:00+0000``, any ISO 8601, or epoch seconds)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return from_epoch(value, millis=False, where=where)
    if isinstance(value, str) and len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"
    return from_iso(value, where)


def page_data(page: Mapping[str, Any] | None, where: str) -> list[dict[str, Any]]:
    """The objects of a Graph list page (tolerating a missing page)."""
    if page is None:
        return []
    return [as_dict(item, f"{where}.data[]") for item in opt_list(page, "data", where)]


def next_after(page: Mapping[str, Any] | None) -> str | None:
    """The ``after`` cursor of the next page, or None when this page is the last one."""
    paging = page.get("paging") if isinstance(page, Mapping) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
    after = cursors.get("after")
    return after if isinstance(after, str) and after else None


def history_page(
    client: httpx.Client,
    url: str,
    *,
    token: str,
    fields: str,
    after: str | None,
    since: datetime | None,
) -> dict[str, Any]:
    """One page of a Graph edge listed for a backfill: ``HISTORY_PAGE_SIZE`` items from the
    ``after`` cursor, none older than ``since``."""
    params = {"fields": fields, "limit": str(HISTORY_PAGE_SIZE), **since_param(since)}
    if after:
        params["after"] = after
    return get(client, url, token=token, params=params)


def since_param(since: datetime | None) -> dict[str, str]:
    """Graph's time-range parameter (epoch seconds) for ``since``."""
    return {} if since is None else {"since": str(int(since.timestamp()))}


def raw_item(body: Mapping[str, Any]) -> bytes:
    """A synthesized webhook body as the bytes ``parse`` reads."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _messaging_attachments(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Conversation-API attachments in the webhook's ``{type, payload: {url}}`` shape."""
    found: list[dict[str, Any]] = []
    for raw in page_data(opt_dict(message, "attachments", "message"), "message.attachments"):
        image = opt_dict(raw, "image_data", "attachment")
        video = opt_dict(raw, "video_data", "attachment")
        if image is not None:
            kind, url = "image", opt_str(image, "url")
        elif video is not None:
            kind, url = "video", opt_str(video, "url")
        else:
            mime = opt_str(raw, "mime_type") or ""
            kind = "audio" if mime.startswith("audio/") else "file"
            url = opt_str(raw, "file_url")
        payload: dict[str, Any] = {"url": url} if url else {}
        if opt_str(raw, "id"):
            payload["attachment_id"] = opt_str(raw, "id")
        if opt_str(raw, "name"):
            payload["title"] = opt_str(raw, "name")
        found.append({"type": kind, "payload": payload})
    return found


def _messaging_item(
    message: Mapping[str, Any], *, account_id: str, participants: list[str]
) -> tuple[datetime, dict[str, Any]] | None:
    """A conversation message as the ``messaging[]`` item its webhook carries."""
    mid = opt_str(message, "id")
    sender = opt_str(opt_dict(message, "from", "message"), "id")
    if not mid or not sender:
        return None  # No id to dedupe on or no author to thread by: nothing to ingest.
    recipients = [
        rid
        for rid in (opt_str(r, "id") for r in page_data(opt_dict(message, "to", "message"), "to"))
        if rid and rid != sender
    ]
    recipients += [p for p in participants if p != sender and p not in recipients]
    if sender != account_id:
        recipients = [account_id]
    if not recipients:
        return None
    created = graph_time(message.get("created_time"), "message.created_time")
    body: dict[str, Any] = {"mid": mid}
    text = opt_str(message, "message")
    if text:
        body["text"] = text
    attachments = _messaging_attachments(message)
    if attachments:
        body["attachments"] = attachments
    if sender == account_id:
        # The brand's own message, written in the native inbox or sent by us: an echo.
        body["is_echo"] = True
    item = {
        "sender": {"id": sender},
        "recipient": {"id": recipients[0]},
        "timestamp": int(created.timestamp() * 1000),
        "message": body,
    }
    return created, item


def conversations_history(
    client: httpx.Client,
    *,
    base_url: str,
    token: str,
    account_id: str,
    platform: str,
    envelope: str,
    after: str | None,
    since: datetime | None,
) -> tuple[list[bytes], str | None, int]:
    """One page of conversations (Messenger or Instagram DMs) as ``messaging`` bodies.

    ``GET /{account}/conversations?platform=…&fields=participants,messages{…}``, newest
    conversation first; each conversation's messages are paged through
    ``/{conversation-id}/messages`` until the oldest or one older than ``since``. Returns
    the raw bodies (each conversation oldest message first), the next ``after`` cursor
    (None when the list is exhausted or older than ``since``) and the number of calls.
    """
    page = get(
        client,
        _http.join(base_url, f"/{GRAPH_VERSION}/{account_id}/conversations"),
        token=token,
        params={
            "platform": platform,
            "fields": (
                "id,updated_time,participants,"
                f"messages.limit({HISTORY_INNER_PAGE_SIZE}){{{_CONVERSATION_MESSAGE_FIELDS}}}"
            ),
            "limit": str(HISTORY_PAGE_SIZE),
            **({"after": after} if after else {}),
        },
    )
    calls = 1
    items: list[bytes] = []
    reached_since = False
    for conversation in page_data(page, "conversations"):
        updated = conversation.get("updated_time")
        if (
            since is not None
            and updated is not None
            and graph_time(updated, "conversation.updated_time") < since
        ):
            # Conversations come most recently active first: the rest are older still.
            reached_since = True
            break
        participants = [
            pid
            for pid in (
                opt_str(p, "id")
                for p in page_data(opt_dict(conversation, "participants", "c"), "participants")
            )
            if pid
        ]
        collected: list[tuple[datetime, dict[str, Any]]] = []
        messages = opt_dict(conversation, "messages", "conversation")
        conversation_id = opt_str(conversation, "id")
        while True:
            older = False
            for message in page_data(messages, "messages"):
                found = _messaging_item(message, account_id=account_id, participants=participants)
                if found is None:
                    continue
                if since is not None and found[0] < since:
                    older = True  # Messages come newest first.
                    break
                collected.append(found)
            cursor = next_after(messages)
            if older or cursor is None or not conversation_id:
                break
            messages = get(
                client,
                _http.join(base_url, f"/{GRAPH_VERSION}/{conversation_id}/messages"),
                token=token,
                params={
                    "fields": _CONVERSATION_MESSAGE_FIELDS,
                    "limit": str(HISTORY_INNER_PAGE_SIZE),
                    "after": cursor,
                },
            )
            calls += 1
        # Oldest first, so a reply is ingested after the message it answers.
        collected.reverse()  # Newest first as listed; reversed, equal times keep their order.
        for _, item in sorted(collected, key=lambda pair: pair[0]):
            entry = {"id": account_id, "time": item["timestamp"], "messaging": [item]}
            items.append(raw_item({"object": envelope, "entry": [entry]}))
    next_cursor = None if reached_since else next_after(page)
    return items, next_cursor, calls


class MetaAdapter(Adapter):
    """Handshake, signature and routing shared by the three Meta platforms."""

    def handshake(
        self, query: Mapping[str, str], credentials: Mapping[str, Any]
    ) -> HandshakeResponse | None:
        """Meta's ``hub.challenge`` verification (CHANNELS.md §0.1)."""
        return handshake(query, credentials)

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """``X-Hub-Signature-256`` over the raw body (CHANNELS.md §0.2)."""
        return verify_signature(headers, body, credentials)

    def account_ids(self, body: bytes) -> frozenset[str]:
        """The ``entry[].id`` values: Page id or Instagram account id."""
        return entry_ids(body)

    def sent_at(self, payload: Any) -> datetime | None:
        """The newest ``entry[].time``: when Meta sent the notification (CHANNELS.md §0.3),
        in seconds or milliseconds. WhatsApp's entries carry none."""
        entries = payload.get("entry") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            return None
        return newest_epoch(entry.get("time") for entry in entries if isinstance(entry, dict))


# Messenger Platform ``messaging[]`` items, as Messenger and Instagram DMs both send them.

_MESSAGING_ATTACHMENT_KINDS = {
    "image": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "audio": AttachmentKind.AUDIO,
    "file": AttachmentKind.FILE,
    "sticker": AttachmentKind.STICKER,
    "location": AttachmentKind.LOCATION,
    "story": AttachmentKind.STORY,
    "story_mention": AttachmentKind.STORY,
    "ig_story": AttachmentKind.STORY,
}


def messaging_common(
    item: Mapping[str, Any], *, account_id: str, channel: str, where: str
) -> tuple[dict[str, Any], str]:
    """What every event of one ``messaging[]`` item shares (thread, author, direction),
    and the customer's scoped id (PSID, IGSID), whichever side sent it."""
    sender_id = opt_str(opt_dict(item, "sender", where), "id")
    recipient_id = opt_str(opt_dict(item, "recipient", where), "id")
    if not sender_id or not recipient_id:
        raise PayloadError(f"{where}: sender.id and recipient.id are required")
    from_brand = sender_id == account_id
    customer_id = recipient_id if from_brand else sender_id
    common: dict[str, Any] = {
        "channel": channel,
        "account_external_id": account_id,
        "conversation_kind": ConversationKind.DIRECT,
        "thread_key": f"{account_id}:{customer_id}",
        "author_external_id": sender_id,
        "direction": Direction.OUTBOUND if from_brand else Direction.INBOUND,
        "origin": Origin.BRAND_VIA_NATIVE_APP if from_brand else Origin.CUSTOMER,
    }
    return common, customer_id


def messaging_event(
    item: Mapping[str, Any],
    common: dict[str, Any],
    *,
    prefix: str,
    epoch: Callable[[Any, str], datetime],
    parent_of: Callable[[dict[str, Any]], str | None],
    echo_client_ref: bool,
    where: str,
) -> NormalizedEvent | None:
    """The ``message`` (new, deleted, echoed), ``message_edit`` or ``reaction`` of one
    ``messaging[]`` item; None for anything else (receipts differ per platform).

    ``prefix`` starts every idempotency key, ``epoch`` reads the item's timestamp,
    ``parent_of`` finds what a message replies to, and ``echo_client_ref`` keeps an
    echo's ``metadata`` (the reference Causerie sent it with) as its client reference.
    """
    timestamp = item.get("timestamp")
    if "message" in item:
        message = as_dict(item["message"], f"{where}.message")
        mid = req_str(message, "mid", f"{where}.message")
        created = epoch(timestamp, f"{where}.timestamp")
        if message.get("is_deleted") is True:
            return NormalizedEvent(
                **common,
                event_type=EventType.MESSAGE_DELETED,
                external_message_id=mid,
                idempotency_key=f"{prefix}:{mid}:deleted",
                platform_created_at=created,
                platform_ts_raw=str(timestamp),
            )
        is_echo = message.get("is_echo") is True
        if is_echo:
            common = {
                **common,
                "direction": Direction.OUTBOUND,
                "origin": Origin.BRAND_VIA_NATIVE_APP,
            }
        return NormalizedEvent(
            **common,
            event_type=EventType.MESSAGE_CREATED,
            external_message_id=mid,
            parent_external_id=parent_of(message),
            text=opt_str(message, "text"),
            attachments=messaging_attachments(message, f"{where}.message"),
            client_ref=opt_str(message, "metadata") if is_echo and echo_client_ref else None,
            idempotency_key=f"{prefix}:{mid}",
            platform_created_at=created,
            platform_ts_raw=str(timestamp),
        )
    if "message_edit" in item:
        edit = as_dict(item["message_edit"], f"{where}.message_edit")
        mid = req_str(edit, "mid", f"{where}.message_edit")
        num_edit = opt_int(edit, "num_edit") or 0
        return NormalizedEvent(
            **common,
            event_type=EventType.MESSAGE_EDITED,
            external_message_id=mid,
            text=opt_str(edit, "text"),
            edit_seq=num_edit,
            idempotency_key=f"{prefix}:{mid}:edit:{num_edit}",
            platform_created_at=epoch(timestamp, f"{where}.timestamp"),
            platform_ts_raw=str(timestamp),
        )
    if "reaction" in item:
        return reaction_event(item, common, prefix=prefix, where=where)
    return None


def messaging_attachments(message: Mapping[str, Any], where: str) -> tuple[Attachment, ...]:
    """Attachments of a Messenger/Instagram ``message`` (``type`` + ``payload.url``)."""
    found: list[Attachment] = []
    for index, raw in enumerate(opt_list(message, "attachments", where)):
        item = as_dict(raw, f"{where}.attachments[{index}]")
        payload = opt_dict(item, "payload", f"{where}.attachments[{index}]") or {}
        kind_name = opt_str(item, "type") or "file"
        # Stickers arrive as ``image`` with a sticker id until the platform switches over.
        if payload.get("sticker_id") is not None:
            kind_name = "sticker"
        kind = _MESSAGING_ATTACHMENT_KINDS.get(kind_name, AttachmentKind.SHARE)
        url = opt_str(payload, "url")
        coordinates = payload.get("coordinates")
        if kind == AttachmentKind.LOCATION and isinstance(coordinates, dict):
            lat, lon = coordinates.get("lat"), coordinates.get("long")
            url = url or f"geo:{lat},{lon}"
        found.append(
            Attachment(
                kind=kind,
                url=url,
                platform_media_id=opt_str(payload, "attachment_id") or opt_str(payload, "id"),
                caption=opt_str(payload, "title"),
            )
        )
    return tuple(found)


def reaction_event(
    item: dict[str, Any], common: dict[str, Any], *, prefix: str, where: str
) -> NormalizedEvent:
    """A Messenger/Instagram ``message_reactions`` item (``react`` / ``unreact``)."""
    reaction = as_dict(item["reaction"], f"{where}.reaction")
    mid = req_str(reaction, "mid", f"{where}.reaction")
    action = opt_str(reaction, "action") or "react"
    name = opt_str(reaction, "reaction") or ""
    timestamp = item.get("timestamp")
    sender = common["author_external_id"]
    return NormalizedEvent(
        **common,
        event_type=EventType.REACTION_REMOVED if action == "unreact" else EventType.REACTION_ADDED,
        external_message_id=mid,
        reaction=opt_str(reaction, "emoji") or name or None,
        idempotency_key=f"{prefix}:{mid}:react:{sender}:{action}:{name}:{timestamp}",
        platform_created_at=from_epoch(timestamp, millis=True, where=f"{where}.timestamp"),
        platform_ts_raw=str(timestamp),
    )


def history_then_conversations(
    client: httpx.Client,
    *,
    base_url: str,
    token: str,
    account_id: str,
    cursor: Mapping[str, Any] | None,
    since: datetime | None,
    first_phase: str,
    first_page: Callable[[str | None], tuple[list[bytes], str | None, int]],
    platform: str,
    envelope: str,
) -> PollResult:
    """A backfill walked in two phases: the account's public posts or media with their
    comments (``first_page`` reads one page from a Graph ``after`` cursor), then its DM
    conversations (``conversations_history``).

    Cursor: ``{"phase": first_phase | "conversations", "after": <Graph cursor or None>}``;
    ``{}`` once both phases are done.
    """
    cursor = cursor or {}
    phase = cursor.get("phase") or first_phase
    after = cursor.get("after") if isinstance(cursor.get("after"), str) else None
    if phase == "conversations":
        items, next_after, calls = conversations_history(
            client,
            base_url=base_url,
            token=token,
            account_id=account_id,
            platform=platform,
            envelope=envelope,
            after=after,
            since=since,
        )
        next_cursor = {"phase": "conversations", "after": next_after} if next_after else {}
        return PollResult(raw_items=items, next_cursor=next_cursor, quota_used=calls)
    if phase != first_phase:
        raise PayloadError(f"unknown history phase {phase!r}")
    items, next_after, calls = first_page(after)
    next_cursor = (
        {"phase": first_phase, "after": next_after}
        if next_after
        else {"phase": "conversations", "after": None}
    )
    return PollResult(raw_items=items, next_cursor=next_cursor, quota_used=calls)
