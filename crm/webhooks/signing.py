"""Standard Webhooks signing (https://www.standardwebhooks.com/), the one implementation.

Used both ways: the generic ``api`` channel verifies what tools send and signs its
replies, and outbound webhook subscriptions sign every delivery. Headers are
``webhook-id``, ``webhook-timestamp`` (epoch seconds) and ``webhook-signature``: one or
more space-separated ``v1,<base64 HMAC-SHA256>`` values over ``{id}.{timestamp}.{body}``.
A secret is ``whsec_`` + the base64 of the key; a secret that is not base64 is used as
raw UTF-8 bytes. Plain Python on purpose: no Django, so adapters and scripts can use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
# Receivers refuse timestamps further than this from their clock (replay protection).
TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    """A new secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(
    secrets_: Iterable[str], msg_id: str, timestamp: int | str, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated.

    Several secrets sign during a rotation's overlap, so that a receiver holding either
    the old or the new secret accepts the message.
    """
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def signed_headers(
    secret: str | Iterable[str], msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` (one secret or several)."""
    ts = int(time.time()) if timestamp is None else timestamp
    all_secrets = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(all_secrets, msg_id, ts, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Check the Standard Webhooks headers of a request (any listed ``v1`` signature)."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not timestamp or not signatures or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False  # Replay protection.
    expected = sign(secret, msg_id, timestamp, bytes(body)).encode("ascii")
    return any(
        hmac.compare_digest(expected, candidate.encode("utf-8", "surrogateescape"))
        for candidate in signatures.split()
        if candidate.startswith("v1,")
    )
