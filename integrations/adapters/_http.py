"""Outbound HTTP helpers shared by the adapters' ``send`` and ``poll``."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .base import AuthError, PolicyError, RateLimited, TransientError

# Applied when the caller's client has no timeout of its own: a send must never hang a
# Celery worker (STYLE.md C6, "outbound HTTP always has an explicit timeout").
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def join(base_url: str, path: str) -> str:
    """Join a configured base URL (scheme and host, maybe a prefix) and a documented path."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


# Telegram puts the bot token in the path (``/bot<token>/sendMessage``).
_BOT_TOKEN = re.compile(r"/bot[^/]+")


def shown_url(url: str) -> str:
    """``url`` as errors and logs may show it: without user info or query string (where
    tokens travel) and with Telegram's bot token masked."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, _BOT_TOKEN.sub("/bot***", parts.path), "", ""))


def request(
    client: httpx.Client,
    method: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request, turning network failures into ``TransientError``."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientError("timeout", f"{method} {shown_url(url)}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientError("network", f"{method} {shown_url(url)}: {exc}") from exc


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or an empty dict when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def require(credentials: Mapping[str, Any], key: str) -> str:
    """A credential the send cannot do without; its absence is an account problem."""
    value = credentials.get(key)
    if not isinstance(value, str) or not value:
        raise AuthError("missing_credential", f"credential {key!r} is not configured")
    return value


def raise_for_status(response: httpx.Response, *, code: str | None, message: str) -> None:
    """Map a non-2xx answer of a platform without finer error codes to our errors.

    429 is a rate limit (honouring ``Retry-After``); 401 an auth failure; 408 and 5xx are
    transient; any other 4xx means the platform rejected this request and retrying the
    same request cannot succeed.
    """
    status = response.status_code
    if status < 400:
        return
    code = code or str(status)
    if status == 429:
        raise RateLimited(retry_after(response.headers), code, message)
    if status == 401:
        raise AuthError(code, message)
    if status == 408 or status >= 500:
        raise TransientError(code, message)
    raise PolicyError(code, message)
