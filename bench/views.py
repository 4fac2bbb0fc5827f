"""Bare Django views for the baselines measured under the same servers as the product.

- ``bare_insert``: the webhook baseline, one INSERT into a table like ``InboundEvent``;
- ``bare_page``: the serving floor of the reads, a precomputed JSON page (the product's
  own answer to that read, captured before the run) returned without touching the
  database: what HTTP, the server and Django's request cycle cost by themselves;
- ``bare_sql_page``: the least any Django endpoint can do for a read, the read's
  hand-written baseline SQL run through Django's connection and its rows returned as JSON;
- ``guarded_sql_page``: the same behind the product's authentication and rate limit, the
  work no endpoint of the API may leave out.
"""

import hashlib
import json
import os
import uuid
from functools import cache
from pathlib import Path

from django.db import connection
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from crm.api.errors import json_error_response

BARE_TABLE = "bench_bare_event"
BARE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {BARE_TABLE} (
    id uuid PRIMARY KEY,
    workspace_id uuid,
    brand_account_id uuid,
    platform varchar(16) NOT NULL,
    body bytea NOT NULL,
    body_sha256 varchar(64) NOT NULL,
    headers jsonb NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'pending',
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


@csrf_exempt
def bare_insert(request):
    body = request.body
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (id, platform, body, body_sha256, headers) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                uuid.uuid4(),
                "facebook",
                body,
                hashlib.sha256(body).hexdigest(),
                json.dumps({"content-type": request.content_type}),
            ],
        )
    return HttpResponse(b"", status=200)


# The file the runner writes the reads to: {"pages": {read key: the product's JSON body},
# "queries": {read key: [baseline SQL, its parameters]}}.
FLOOR_PAGES_ENV = "BENCH_FLOOR_PAGES"


@cache
def _floor_reads() -> dict[str, dict]:
    path = os.environ.get(FLOOR_PAGES_ENV)
    if not path:
        return {"pages": {}, "queries": {}}
    reads = json.loads(Path(path).read_text())
    reads["pages"] = {key: body.encode() for key, body in reads["pages"].items()}
    return reads


def bare_page(request, key: str):
    body = _floor_reads()["pages"].get(key)
    if body is None:
        raise Http404(key)
    return HttpResponse(body, content_type="application/json")


def bare_sql_page(request, key: str):
    """The read's baseline SQL through Django's connection, its rows as a JSON page.

    A plain Django view (no DRF) under the same server, settings and database pool as the
    product. What it leaves out, and the product does: authentication, permissions, the
    rate limit, query-parameter validation, the ORM, the API's row shape (the rows are the
    SQL's own columns, times and ids written by ``str``) and the pagination links (both
    ``null``). The page holds as many rows as the product's (50).
    """
    return _sql_page(key)


def guarded_sql_page(request, key: str):
    """``bare_sql_page`` behind the product's API authentication and rate limit.

    The API's own authentication classes (the bearer token with its brute-force guard,
    the session) and throttle classes, from the same settings, run on the request as
    they do before every API view; a request they refuse gets the API's error. Still
    left out: the workspace membership and its visibility rules, query-parameter
    validation, the ORM, the API's row shape and the pagination links.
    """
    refusal = _guard(request)
    if refusal is not None:
        return refusal
    return _sql_page(key)


def _guard(request) -> HttpResponse | None:
    api_request = Request(
        request,
        authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES],
    )
    try:
        authenticated = api_request.user.is_authenticated
    except exceptions.AuthenticationFailed as exc:
        return json_error_response(401, "authentication_failed", str(exc.detail))
    if not authenticated:
        return json_error_response(401, "not_authenticated", "Credentials were not provided.")
    for throttle in (cls() for cls in api_settings.DEFAULT_THROTTLE_CLASSES):
        if not throttle.allow_request(api_request, None):
            return json_error_response(429, "throttled", "Too many requests; slow down.")
    return None


def _sql_page(key: str) -> HttpResponse:
    query = _floor_reads()["queries"].get(key)
    if query is None:
        raise Http404(key)
    sql, params = query
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        # Like the product and the baseline, 51 rows read, 50 shown (the 51st tells
        # whether there is a next page).
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()[:50]]
    body = json.dumps({"results": rows, "next": None, "previous": None}, default=str)
    return HttpResponse(body, content_type="application/json")
