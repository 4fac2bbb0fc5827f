"""The raw inbound store: verified bodies in, one INSERT each, processing after commit."""

import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping

from django.core.cache import cache
from django.db import connection, transaction

from crm.actors import Actor
from crm.exceptions import Conflict
from crm.services.audit import audit_record
from crm.tasks import task_enqueue, task_enqueue_later

from ..models import BrandAccount, InboundEvent

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


def _insert_sql() -> str:
    """``INSERT ... ON CONFLICT DO NOTHING`` for InboundEvent, built once from the model."""
    meta = InboundEvent._meta
    quote = connection.ops.quote_name
    columns = [field.column for field in meta.concrete_fields]
    return (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        "ON CONFLICT (brand_account_id, body_sha256) DO NOTHING"
    )


def inbound_event_store(*, account: BrandAccount, body: bytes, headers: Mapping[str, str]) -> bool:
    """Keep a verified body as a pending InboundEvent; False if this exact body is stored.

    One statement in autocommit (no BEGIN/COMMIT round trips: this is the webhook's hot
    path); processing is queued after it.
    """
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    event = InboundEvent(
        workspace_id=account.workspace_id,
        brand_account=account,
        platform=account.platform,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        headers=kept,
    )
    values = [
        field.get_db_prep_save(getattr(event, field.attname), connection)
        for field in InboundEvent._meta.concrete_fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), values)
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
    from ..tasks import process_inbound_events_task

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
