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
from typing import Any

import httpx

from . import _http
from ._payload import as_dict, as_list, compare, credential, header, hmac_sha256, opt_str
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
