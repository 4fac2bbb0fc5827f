"""The webhook baseline: a bare Django view doing one INSERT into a comparable table."""

import hashlib
import json
import uuid

from django.db import connection
from django.http import HttpResponse
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
