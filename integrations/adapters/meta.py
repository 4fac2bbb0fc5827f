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
from collections.abc import Iterator, Mapping
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
    opt_list,
    opt_str,
)
from .base import (
    Adapter,
    AuthError,
    HandshakeResponse,
    PayloadError,
    PolicyError,
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
