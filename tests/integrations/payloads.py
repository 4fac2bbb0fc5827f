"""Payloads as each pushing platform sends them, built on the emulator's scenarios."""

from __future__ import annotations

import html
import itertools
import json
from typing import Any

from integrations.emulator import scenarios

_ids = itertools.count(1)


def message(platform: str, account: str, mid: str, text: Any) -> Any:
    """A customer's message as ``platform`` sends it (raw MIME bytes for email)."""
    n = next(_ids)
    if platform == "facebook":
        item = scenarios.messenger_message(account, "6000000000000001", mid, "x")
        item["message"]["text"] = text
        return scenarios.page_envelope(account, messaging=[item])
    if platform == "instagram":
        item = scenarios.instagram_dm(account, "1300000000000001", mid, "x")
        item["message"]["text"] = text
        return scenarios.instagram_envelope(account, messaging=[item])
    if platform == "whatsapp":
        item = scenarios.whatsapp_text("33612345678", mid, "x")
        item["text"]["body"] = text
        return scenarios.whatsapp_envelope(
            "waba-1", account, messages=[item], contacts=[("33612345678", "Jeanne")]
        )
    if platform == "x":
        dm = scenarios.x_dm(mid, "3001969357", account, "x")
        dm["message_create"]["message_data"]["text"] = text
        return scenarios.x_payload(account, dms=[dm], users={"3001969357": ("jeanne", "Jeanne")})
    if platform == "telegram":
        update = scenarios.telegram_message(900_000 + n, 123_456_700, n, "x")
        update["message"]["text"] = text
        return update
    if platform == "api":
        event = scenarios.api_event("message.created", mid, "thread-1", text="x")
        event["text"] = text
        return event
    if platform == "discourse":
        post = scenarios.discourse_post(n, 77, n + 1, "x", user_id=4, username="jeanne")
        post["post"]["raw"] = text
        post["post"]["cooked"] = (
            text if not isinstance(text, str) else f"<p>{html.escape(text)}</p>"
        )
        return post
    if platform == "email":
        return email(mid, str(text).encode("utf-8"))
    raise AssertionError(platform)


def email(mid: str, body: bytes, *, charset: str = "utf-8") -> bytes:
    """Raw MIME with ``body`` as its exact 8-bit text part (no library in between)."""
    return (
        b"From: Jeanne <jeanne@client.example>\r\nTo: support@brand.example\r\n"
        b"Subject: Corpus\r\nDate: Mon, 10 Jun 2024 10:00:00 +0000\r\n"
        + f"Message-ID: <{mid}@client.example>\r\nMIME-Version: 1.0\r\n".encode()
        + f"Content-Type: text/plain; charset={charset}\r\n".encode()
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + body
    )


def wire(platform: str, payload: Any) -> bytes:
    """The bytes the platform puts on the wire: Meta escapes non-ASCII, others send UTF-8
    (and escape what UTF-8 cannot encode, a lone surrogate)."""
    if isinstance(payload, bytes):
        return payload
    ascii_only = platform in {"facebook", "instagram", "whatsapp"}
    text = json.dumps(payload, ensure_ascii=ascii_only, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(payload, separators=(",", ":")).encode()


def unknown_event(platform: str, account: str, mid: str) -> Any:
    """An event type the adapter does not know (new platform features arrive unannounced)."""
    if platform in {"facebook", "instagram"}:
        envelope = message(platform, account, mid, "x")
        item = envelope["entry"][0]["messaging"][0]
        item.pop("message")
        item["game_play"] = {"game_id": "1", "score": 3}
        return envelope
    if platform == "whatsapp":
        envelope = message(platform, account, mid, "x")
        envelope["entry"][0]["changes"][0]["field"] = "account_update"
        return envelope
    if platform == "x":
        return {"for_user_id": account, "favorite_events": [{"id": mid, "timestamp_ms": "1"}]}
    if platform == "telegram":
        return {"update_id": 800_000 + next(_ids), "poll": {"id": mid, "question": "?"}}
    if platform == "api":
        return scenarios.api_event("thing.happened", mid, "thread-1")
    if platform == "discourse":
        return {"user": {"id": next(_ids), "username": mid}}
    raise AssertionError(platform)
