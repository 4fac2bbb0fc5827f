"""Bare Django views for the baselines measured under the same servers as the product.

- ``bare_insert``: the webhook baseline, one INSERT into a table like ``InboundEvent``;
- ``bare_page``: the serving floor of the reads, a precomputed JSON page (the product's
  own answer to that read, captured before the run) returned without touching the
  database: what HTTP, the server and Django's request cycle cost by themselves.
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


# The file the runner writes the captured pages to: {read key: JSON body}.
FLOOR_PAGES_ENV = "BENCH_FLOOR_PAGES"


@cache
def _floor_pages() -> dict[str, bytes]:
    path = os.environ.get(FLOOR_PAGES_ENV)
    if not path:
        return {}
    return {key: body.encode() for key, body in json.loads(Path(path).read_text()).items()}


def bare_page(request, key: str):
    body = _floor_pages().get(key)
    if body is None:
        raise Http404(key)
    return HttpResponse(body, content_type="application/json")
