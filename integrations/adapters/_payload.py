"""Defensive readers for untrusted payloads, shared by the adapters.

Webhook bodies come from the internet: every access checks the type it expects and turns
a mismatch into ``PayloadError``, so ``parse`` never leaks a ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from .base import PayloadError

# Dates outside this range are not platform timestamps; rejecting them early also keeps
# datetime arithmetic away from OverflowError.
_MIN_EPOCH_S = 0
_MAX_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z


def load_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body or raise ``PayloadError``."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise PayloadError("body must be bytes")
    try:
        return json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"body is not UTF-8 JSON: {exc}") from None


def load_object(body: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object."""
    return as_dict(load_json(body), "body")


def as_dict(value: Any, where: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise ``PayloadError``."""
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """Return ``value`` if it is a JSON array, else raise ``PayloadError``."""
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be an array")
    return value


def opt_dict(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """An optional object member: None when absent or null."""
    value = data.get(key)
    return None if value is None else as_dict(value, f"{where}.{key}")


def opt_list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional array member: empty when absent or null."""
    value = data.get(key)
    return [] if value is None else as_list(value, f"{where}.{key}")


def opt_str(data: Mapping[str, Any] | None, key: str) -> str | None:
    """A string-or-integer member as a string (platform ids arrive as both), else None."""
    if data is None:
        return None
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def req_str(data: Mapping[str, Any], key: str, where: str) -> str:
    """A required non-empty string-or-integer member."""
    value = opt_str(data, key)
    if not value:
        raise PayloadError(f"{where}.{key} is required")
    return value


def opt_int(data: Mapping[str, Any] | None, key: str) -> int | None:
    """An integer member (also accepted as a decimal string), else None."""
    if data is None:
        return None
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def from_epoch(value: Any, *, millis: bool, where: str) -> datetime:
    """Convert epoch seconds or milliseconds (int or numeric string) to an aware UTC datetime."""
    number: float
    if isinstance(value, bool):
        raise PayloadError(f"{where} must be a timestamp")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise PayloadError(f"{where} must be a timestamp") from None
    else:
        raise PayloadError(f"{where} must be a timestamp")
    seconds = number / 1000.0 if millis else number
    if not (_MIN_EPOCH_S <= seconds <= _MAX_EPOCH_S):  # also rejects NaN
        raise PayloadError(f"{where} is out of range")
    return datetime.fromtimestamp(seconds, tz=UTC)


def from_iso(value: Any, where: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset) into an aware UTC datetime."""
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{where} has no UTC offset")
    return parsed.astimezone(UTC)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (Django, httpx or a plain dict)."""
    wanted = name.lower()
    # Mappings keyed in lower case (the webhook's) or case-insensitive ones (Django's,
    # httpx's) answer directly; others are searched.
    value = headers.get(wanted)
    if value is not None:
        return value if isinstance(value, str) else None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def sha1_hex(text: str | None) -> str:
    """SHA-1 hex of a text (CHANNELS.md §9.3 uses it to key FB comment edits)."""
    return hashlib.sha1((text or "").encode("utf-8"), usedforsecurity=False).hexdigest()


def hmac_sha256(secret: str, body: bytes) -> bytes:
    """HMAC-SHA256 of ``body`` keyed with the UTF-8 bytes of ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def compare(expected: str | bytes, received: str | bytes | None) -> bool:
    """Constant-time comparison that tolerates a missing value."""
    if received is None:
        return False
    left = expected.encode("utf-8") if isinstance(expected, str) else expected
    right = received.encode("utf-8", "surrogateescape") if isinstance(received, str) else received
    return hmac.compare_digest(left, right)


def credential(credentials: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string credential, else None."""
    value = credentials.get(key)
    return value if isinstance(value, str) and value else None


class _TextExtractor(HTMLParser):
    """Visible text of an HTML fragment (scripts and styles dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._hidden += 1
        elif tag in {"br", "p", "div", "li", "tr"}:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)


def html_to_text(markup: str) -> str:
    """The visible text of HTML (an email part, a rendered comment), paragraphs kept."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    text = html.unescape("".join(extractor.chunks))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def newest_epoch(values: Iterable[Any]) -> datetime | None:
    """The latest of epoch values in seconds or milliseconds (told apart by size, as Meta
    mixes both), ignoring what is not a number; None when there is none."""
    newest = None
    for value in values:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            continue
        seconds = value / 1000 if value > 10**11 else value
        newest = seconds if newest is None else max(newest, seconds)
    if newest is None:
        return None
    try:
        return datetime.fromtimestamp(newest, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
