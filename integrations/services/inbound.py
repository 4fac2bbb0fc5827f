"""The raw inbound store: verified bodies in, one INSERT each, processing after commit."""

import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict
from crm.services.audit import audit_record
from crm.tasks import task_enqueue, task_enqueue_later

from ..models import BrandAccount, InboundEvent
from ..tasks import process_inbound_events_task

logger = logging.getLogger(__name__)

# Headers a later replay or audit may need; the rest (cookies, proxies) is not kept.
KEPT_HEADERS = (
    "content-type",
    "x-hub-signature-256",
    "x-twitter-webhooks-signature",
    "x-telegram-bot-api-secret-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-causerie-signature",
    "x-discourse-event",
    "x-discourse-event-type",
    "x-discourse-event-id",
    "x-discourse-event-signature",
    "user-agent",
)

# At most one processing task is queued per this many seconds, however many webhooks
# arrive: the task drains everything pending in batches.
KICK_INTERVAL_SECONDS = 1


# The columns the webhook fills per request; every other column takes its model default,
# the same for every row (status pending, no attempts, no error, not processed).
PER_REQUEST_COLUMNS = (
    "id",
    "workspace_id",
    "brand_account_id",
    "platform",
    "body",
    "body_sha256",
    "headers",
    "received_at",
)


@functools.cache
def _insert_statement() -> tuple[str, tuple]:
    """``INSERT ... ON CONFLICT DO NOTHING`` for InboundEvent, built once per process from
    the model, and the parameters it takes after the per-request ones: a placeholder per
    column of ``PER_REQUEST_COLUMNS``, in that order, then each other column's default.

    On PostgreSQL the defaults are written into the statement as literals (each parameter
    costs the driver an adaptation per request); elsewhere (the embedded default's SQLite,
    whose driver composes no literals) they stay parameters.
    """
    meta = InboundEvent._meta
    quote = connection.ops.quote_name
    fields = {field.attname: field for field in meta.concrete_fields}
    constant = [fields[name] for name in fields if name not in PER_REQUEST_COLUMNS]
    columns = [fields[name].column for name in PER_REQUEST_COLUMNS]
    values = ["%s"] * len(PER_REQUEST_COLUMNS)
    parameters = []
    for field in constant:
        value = field.get_db_prep_save(field.get_default(), connection)
        columns.append(field.column)
        if connection.vendor == "postgresql":
            values.append(connection.ops.compose_sql("%s", [value]).replace("%", "%%"))
        else:
            values.append("%s")
            parameters.append(value)
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(values)}) "
        "ON CONFLICT (brand_account_id, body_sha256) DO NOTHING"
    )
    return statement, tuple(parameters)


def _insert_values(row: dict[str, Any]) -> tuple:
    """A request's values (``PER_REQUEST_COLUMNS``, in order) as the driver takes them:
    psycopg adapts them directly (the JSON given as its text); elsewhere each goes through
    its field's preparation (SQLite stores ids as hex text)."""
    if connection.vendor == "postgresql":
        return tuple(
            json.dumps(value) if isinstance(value, dict) else value for value in row.values()
        )
    fields = {field.attname: field for field in InboundEvent._meta.concrete_fields}
    return tuple(fields[name].get_db_prep_save(value, connection) for name, value in row.items())


def inbound_event_store(*, account: BrandAccount, body: bytes, headers: Mapping[str, str]) -> bool:
    """Keep a verified body as a pending InboundEvent; False if this exact body is stored.

    One statement in autocommit (no BEGIN/COMMIT round trips: this is the webhook's hot
    path), its values given directly: a model instance and each field's
    ``get_db_prep_save`` cost more than the rest of the endpoint's own work. Processing is
    queued after it.
    """
    row = {
        "id": InboundEvent._meta.pk.default(),
        "workspace_id": account.workspace_id,
        "brand_account_id": account.pk,
        "platform": account.platform,
        "body": body,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "headers": {name: headers[name] for name in KEPT_HEADERS if name in headers},
        "received_at": timezone.now(),
    }
    statement, defaults = _insert_statement()
    with connection.cursor() as cursor:
        cursor.execute(statement, _insert_values(row) + defaults)
        stored = cursor.rowcount == 1
    if stored:
        inbound_processing_kick()
    return stored


# When this process last queued processing, and last made sure of a drain after that one:
# the shared Redis flags are consulted at most once per interval per process each, not on
# every webhook.
_last_kick = {"at": -KICK_INTERVAL_SECONDS}
_last_trailing = {"at": -KICK_INTERVAL_SECONDS}
KICK_KEY = "causerie:inbound:kick"
TRAILING_KICK_KEY = "causerie:inbound:kick:trailing"


def inbound_processing_kick() -> None:
    """Queue the processing task after commit, at most once per interval; an event stored
    while the queued drain may already have passed it gets one more drain at the end of
    the interval (at most one such per interval, whichever process asks), so that no
    event waits for beat's sweep."""

    def kick() -> None:
        now = time.monotonic()
        if now - _last_kick["at"] >= KICK_INTERVAL_SECONDS:
            _last_kick["at"] = now
            if _queue(KICK_KEY, lambda: task_enqueue(process_inbound_events_task)):
                return
        if now - _last_trailing["at"] >= KICK_INTERVAL_SECONDS:
            _last_trailing["at"] = now
            _queue(
                TRAILING_KICK_KEY,
                lambda: task_enqueue_later(process_inbound_events_task, KICK_INTERVAL_SECONDS),
            )

    transaction.on_commit(kick)


def _queue(flag: str, enqueue) -> bool:
    """Run ``enqueue`` if this process sets the shared ``flag`` for the interval."""
    try:
        if not cache.add(flag, 1, timeout=KICK_INTERVAL_SECONDS):
            return False
        enqueue()
    except Exception:
        # Redis (cache or broker) is down: the event is safely stored and beat's sweep
        # processes it once Redis is back. The platform is answered 200 all the same.
        logger.exception("could not queue inbound processing")
        with contextlib.suppress(Exception):
            cache.delete(flag)
    return True


@transaction.atomic
def inbound_event_replay(*, actor: Actor, event: InboundEvent) -> InboundEvent:
    """Put a failed (or processed) event back in the queue to be processed again."""
    event = InboundEvent.objects.select_for_update().get(pk=event.pk)
    if event.status == "pending":
        raise Conflict("The event is already waiting to be processed.", code="already_pending")
    previous = event.status
    event.status = "pending"
    event.attempts = 0
    event.next_attempt_at = None
    event.error = ""
    event.save(update_fields=["status", "attempts", "next_attempt_at", "error"])
    audit_record(
        actor=actor,
        action="inbound_event.replayed",
        target_type="inbound_event",
        target_id=event.pk,
        details={"previous_status": previous},
    )
    inbound_processing_kick()
    return event
