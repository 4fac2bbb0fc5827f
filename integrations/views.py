"""The inbound webhook endpoint every brand account's ``webhook_url`` points at.

Plain Django (not DRF): it sits on the hottest path and does only what the platforms
require before answering: handshake, authenticity over the raw bytes, size and syntax
checks, one INSERT. Parsing happens later, in processing.
"""

import json
import logging
import time

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from crm.api.errors import json_error_response, service_unavailable_response

from .adapters import get_adapter
from .models import BrandAccount
from .services.inbound import inbound_event_store

logger = logging.getLogger(__name__)

# Platforms whose webhook bodies are JSON; email posts raw MIME.
NON_JSON_PLATFORMS = frozenset({"email"})


# Platforms call at high rates for the same few accounts: each process keeps an account's
# routing fields and credentials for a few seconds instead of reading them per request. A
# disabled account or rotated secret therefore takes effect within this many seconds.
ACCOUNT_CACHE_SECONDS = 5.0
_accounts: dict = {}


def _account_get(brand_account_id) -> BrandAccount | None:
    now = time.monotonic()
    cached = _accounts.get(brand_account_id)
    if cached is not None and now - cached[0] < ACCOUNT_CACHE_SECONDS:
        return cached[1]
    account = (
        BrandAccount.objects.filter(pk=brand_account_id)
        .only("id", "workspace_id", "platform", "external_id", "status", "credentials")
        .first()
    )
    if len(_accounts) > 10_000:
        _accounts.clear()
    _accounts[brand_account_id] = (now, account)
    return account


# Headers the WSGI/ASGI environ carries without the HTTP_ prefix.
UNPREFIXED_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def _lower_headers(request) -> dict[str, str]:
    """The request's headers by lower-case name, read straight from ``request.META``: the
    names ``request.headers`` gives, lower-cased, without its title-casing of each name."""
    meta = request.META
    headers = {
        name[5:].replace("_", "-").lower(): value
        for name, value in meta.items()
        if name.startswith("HTTP_")
    }
    for name, lower in UNPREFIXED_HEADERS.items():
        if name in meta:
            headers[lower] = meta[name]
    return headers


def _stale(adapter, payload) -> bool:
    """Whether a verified body was sent longer ago than ``CAUSERIE_WEBHOOK_REPLAY_WINDOW``
    by the platform's own time (Meta's ``entry[].time``, X's event times): a captured
    request sent again after the platform's redeliveries have ended is a replay. The api
    channel's Standard Webhooks timestamp is checked (five minutes) by its signature."""
    window = settings.CAUSERIE_WEBHOOK_REPLAY_WINDOW
    if not window:
        return False
    sent_at = adapter.sent_at(payload)
    return sent_at is not None and timezone.now() - sent_at > window


@csrf_exempt
def inbound_webhook(request, brand_account_id):
    """Handshake (GET) or store a verified event (POST) for one brand account."""
    try:
        account = _account_get(brand_account_id)
    except DatabaseError:
        logger.exception("database unavailable on inbound webhook")
        # 503 makes the platform redeliver later; nothing is lost.
        return service_unavailable_response(retry_after=10)
    if account is None or account.status == "disabled":
        return json_error_response(404, "not_found", "No such brand account.")
    adapter = get_adapter(account.platform)

    if request.method == "GET":
        answer = adapter.handshake(request.GET, account.credentials)
        if answer is None:
            return json_error_response(405, "method_not_allowed", "POST events here.")
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    if request.method != "POST":
        return json_error_response(405, "method_not_allowed", "POST events here.")

    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.CAUSERIE_INBOUND_MAX_BYTES:
        return json_error_response(413, "request_too_large", "The body is too large.")
    body = request.read(settings.CAUSERIE_INBOUND_MAX_BYTES + 1)
    if len(body) > settings.CAUSERIE_INBOUND_MAX_BYTES:
        return json_error_response(413, "request_too_large", "The body is too large.")

    headers = _lower_headers(request)
    if not adapter.verify(headers, body, account.credentials):
        return json_error_response(401, "invalid_signature", "The signature does not match.")
    if account.platform not in NON_JSON_PLATFORMS:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return json_error_response(400, "parse_error", "The body is not valid JSON.")
        if _stale(adapter, payload):
            return json_error_response(
                401, "stale_webhook", "The webhook is older than the replay window."
            )

    try:
        inbound_event_store(account=account, body=body, headers=headers)
    except DatabaseError:
        logger.exception("could not store inbound event")
        return service_unavailable_response(retry_after=10)
    return HttpResponse(b"", status=200)
