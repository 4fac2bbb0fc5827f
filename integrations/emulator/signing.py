"""How each platform serialises and signs the webhooks it sends.

Written independently of ``integrations.adapters`` on purpose: the emulator plays the
platform, so a mistake shared by both sides would otherwise go unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


def meta_body(payload: Any, *, escape_slashes: bool = False) -> bytes:
    """Meta's wire form: ASCII-escaped compact JSON (optionally ``/`` as ``\\/``)."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    if escape_slashes:
        text = text.replace("/", "\\/")
    return text.encode("ascii")


def meta_headers(app_secret: str, body: bytes) -> dict[str, str]:
    """``X-Hub-Signature-256`` (and the legacy SHA-1 header Meta still sends)."""
    key = app_secret.encode("utf-8")
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def json_body(payload: Any) -> bytes:
    """UTF-8 compact JSON, as X, Telegram and most tools send it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def x_headers(consumer_secret: str, body: bytes) -> dict[str, str]:
    """``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256>``."""
    digest = hmac.new(consumer_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode("ascii"),
    }


def x_crc_response(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` X expects back from a CRC GET."""
    digest = hmac.new(consumer_secret.encode("utf-8"), crc_token.encode("utf-8"), hashlib.sha256)
    return "sha256=" + base64.b64encode(digest.digest()).decode("ascii")


def telegram_headers(secret_token: str) -> dict[str, str]:
    """Telegram echoes the ``setWebhook`` secret token; the body is not signed."""
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret_token}


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``; key = base64 of ``whsec_…``."""
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = secret.encode("utf-8")
    message = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def standard_webhooks_headers(
    secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The ``webhook-id``/``webhook-timestamp``/``webhook-signature`` headers."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_webhooks_signature(secret, msg_id, ts, body),
    }


def email_headers(inbound_secret: str, body: bytes) -> dict[str, str]:
    """``X-Causerie-Signature: sha256=<hex HMAC>`` over the raw MIME bytes."""
    digest = hmac.new(inbound_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "message/rfc822", "X-Causerie-Signature": f"sha256={digest}"}


def discourse_event(payload: Any) -> str:
    """The event a Discourse payload stands for when none is named.

    A post with ``deleted_at`` was destroyed, one past its first version edited; a topic
    was created. Tests name the others (``post_recovered``, ``topic_edited``…).
    """
    if isinstance(payload, dict) and isinstance(payload.get("post"), dict):
        post = payload["post"]
        if post.get("deleted_at"):
            return "post_destroyed"
        version = post.get("version")
        return "post_edited" if isinstance(version, int) and version > 1 else "post_created"
    if isinstance(payload, dict) and isinstance(payload.get("topic"), dict):
        return "topic_created"
    return "ping"


def discourse_headers(
    webhook_secret: str, body: bytes, *, event: str, instance: str = ""
) -> dict[str, str]:
    """``X-Discourse-Event-Signature: sha256=<hex HMAC>`` and the event's name and type."""
    digest = hmac.new(webhook_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Discourse-Instance": instance,
        "X-Discourse-Event-Id": str(int(time.time() * 1000) % 1_000_000),
        "X-Discourse-Event-Type": event.split("_", 1)[0],
        "X-Discourse-Event": event,
        "X-Discourse-Event-Signature": f"sha256={digest}",
    }


SIGNATURE_HEADERS = {
    "facebook": "X-Hub-Signature-256",
    "instagram": "X-Hub-Signature-256",
    "whatsapp": "X-Hub-Signature-256",
    "x": "x-twitter-webhooks-signature",
    "telegram": "X-Telegram-Bot-Api-Secret-Token",
    "api": "webhook-signature",
    "email": "X-Causerie-Signature",
    "discourse": "X-Discourse-Event-Signature",
}


def serialise(platform: str, payload: Any, *, escape_slashes: bool = False) -> bytes:
    """The bytes ``platform`` puts on the wire for ``payload`` (raw MIME for email)."""
    if isinstance(payload, bytes):
        return payload
    if platform == "email":
        return str(payload).encode("utf-8")
    if platform in {"facebook", "instagram", "whatsapp"}:
        return meta_body(payload, escape_slashes=escape_slashes)
    return json_body(payload)


def sign_bytes(
    platform: str,
    body: bytes,
    credentials: Mapping[str, Any],
    *,
    msg_id: str | None = None,
    event: str | None = None,
) -> dict[str, str]:
    """The headers ``platform`` sends with ``body``, signed with ``credentials``.

    ``event`` names a Discourse event; by default it is read from the body.
    """
    if platform in {"facebook", "instagram", "whatsapp"}:
        return meta_headers(str(credentials.get("app_secret", "")), body)
    if platform == "x":
        return x_headers(str(credentials.get("consumer_secret", "")), body)
    if platform == "telegram":
        return telegram_headers(str(credentials.get("secret_token", "")))
    if platform == "api":
        ident = msg_id or f"msg_{hashlib.sha256(body).hexdigest()[:24]}"
        return standard_webhooks_headers(str(credentials.get("secret", "")), ident, body)
    if platform == "email":
        return email_headers(str(credentials.get("inbound_secret", "")), body)
    if platform == "discourse":
        if event is None:
            try:
                event = discourse_event(json.loads(body))
            except (ValueError, RecursionError):  # garbage still gets sent, as a ping
                event = "ping"
        return discourse_headers(
            str(credentials.get("webhook_secret", "")),
            body,
            event=event,
            instance=str(credentials.get("instance", "")),
        )
    raise ValueError(f"{platform} does not push webhooks")


def sign_delivery(
    platform: str,
    payload: Any,
    credentials: Mapping[str, Any],
    *,
    msg_id: str | None = None,
    escape_slashes: bool = False,
    event: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Serialise ``payload`` as ``platform`` does and return ``(body, headers)``.

    ``payload`` is a JSON value, or raw bytes (and for email the message as ``str``).
    """
    body = serialise(platform, payload, escape_slashes=escape_slashes)
    return body, sign_bytes(platform, body, credentials, msg_id=msg_id, event=event)
