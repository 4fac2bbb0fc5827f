"""Processing of stored inbound events: parse with the adapter, ingest, in batches.

Workers claim pending rows with ``FOR UPDATE SKIP LOCKED`` so any number of them share
the queue without taking the same row. On PostgreSQL a batch's new customer messages are
ingested set-based, a fixed number of statements per brand account and batch, in one
savepoint; everything else (edits, reactions, receipts, echoes, and every event of a
set-based attempt that failed) is ingested event by event, each in its own savepoint, so
one bad event never undoes the others of its batch. Ingest is idempotent (unique keys
per platform), so an event processed twice, after a worker died before commit, changes
nothing the second time.
"""

import gc
import hashlib
import logging
import random
import time
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.bulk import RowsConflict, rows_update
from crm.services.events import event_record, events_deferred
from crm.transactions import atomic_retrying, is_deadlock

from ..adapters import NormalizedEvent, PayloadError, get_adapter
from ..models import BrandAccount, InboundEvent
from .ingest import (
    TargetNotYetKnown,
    batchable,
    normalized_events_ingest,
    normalized_events_ingest_batch,
    storable,
)

logger = logging.getLogger(__name__)

# A batch's fixed part (its ~20 statements, their compilation and round trips, the
# commit) costs about 10 ms of the worker's CPU: at 500 events it is a small share of the
# batch (bench/FINDINGS.md), while a light load still takes what is pending at once.
BATCH_SIZE = 500
MAX_ATTEMPTS = 5
# Set-based attempts of a batch racing another worker before it goes event by event.
SET_BASED_ATTEMPTS = 3
# A batch task drains for at most this long, then lets the next task continue, so that
# a flood never pins one worker past the Celery time limits.
DRAIN_SECONDS = 20.0


def _retry_delay(attempts: int) -> timedelta:
    # Exponential backoff with full jitter: 5 s, 10 s, 20 s, 40 s... spread out so that a
    # burst of failures does not retry in lockstep.
    return timedelta(seconds=random.uniform(0.5, 1.0) * 5 * 2 ** (attempts - 1))


def _error_text(error: str) -> str:
    # A platform's values quoted in the error may hold what PostgreSQL cannot store.
    return storable(error)[:2000]


def _failure_record(event: InboundEvent, error: str) -> None:
    event.status = "failed"
    event.error = _error_text(error)
    event_record(
        workspace=event.workspace,
        type="inbound_event.failed",
        data={
            "id": str(event.pk),
            "brand_account": str(event.brand_account_id),
            "platform": event.platform,
            "attempts": event.attempts,
            "error": event.error,
        },
    )


def _parse(event: InboundEvent) -> list[NormalizedEvent]:
    account = event.brand_account
    return get_adapter(account.platform).parse(
        bytes(event.body), event.headers, account_external_id=account.external_id
    )


def _succeeded(event: InboundEvent) -> None:
    event.status = "processed"
    event.processed_at = timezone.now()
    event.error = ""
    event.next_attempt_at = None


def _process_one(event: InboundEvent) -> None:
    try:
        with transaction.atomic():
            waiting = normalized_events_ingest(account=event.brand_account, events=_parse(event))
        if waiting:
            raise waiting[0]
    except PayloadError as exc:
        event.attempts += 1
        _failure_record(event, f"unreadable payload: {exc}")
    except TargetNotYetKnown as exc:
        # Platforms deliver out of order: wait for the message this event is about. If it
        # never comes (a receipt or delete for something sent before the account was
        # connected), there is nothing to apply it to.
        event.attempts += 1
        if event.attempts >= MAX_ATTEMPTS:
            event.status = "processed"
            event.processed_at = timezone.now()
            event.error = _error_text(f"nothing to apply it to: {exc}")
            event.next_attempt_at = None
        else:
            event.error = _error_text(str(exc))
            event.next_attempt_at = timezone.now() + _retry_delay(event.attempts)
    except Exception as exc:
        event.attempts += 1
        logger.exception("inbound event %s failed (attempt %s)", event.pk, event.attempts)
        if event.attempts >= MAX_ATTEMPTS:
            _failure_record(event, f"{type(exc).__name__}: {exc}")
        else:
            event.error = _error_text(f"{type(exc).__name__}: {exc}")
            event.next_attempt_at = timezone.now() + _retry_delay(event.attempts)
    else:
        _succeeded(event)


def _process_events(events: list[InboundEvent]) -> list[InboundEvent]:
    """Ingest a claimed batch in order: runs of new customer messages set-based; return
    the events ingested (not those of threads another batch holds, see ``_threads_take``).

    Events are applied in the order they were received: each run of consecutive events
    that ``batchable`` accepts is ingested set-based, every other event (an edit, a
    receipt, an unreadable body) by ``_process_one`` at its place, so that an edit or a
    deletion meets the same messages as if every event were ingested alone.
    """
    if connection.vendor != "postgresql":
        # SQLite (development, one process) takes the per-event path throughout.
        for event in events:
            _process_one(event)
        return events
    parsed = []
    for event in events:
        try:
            normalized = _parse(event)
        except Exception:
            normalized = None  # the per-event path records why
        parsed.append((event, normalized))
    parsed = _threads_take(parsed)
    run: list[tuple[InboundEvent, list[NormalizedEvent]]] = []
    for event, normalized in parsed:
        if normalized is not None and batchable(normalized):
            run.append((event, normalized))
            continue
        _process_run(run)
        run = []
        _process_one(event)
    _process_run(run)
    return [event for event, _ in parsed]


def _thread_lock_key(brand_account_id, thread_key: str) -> int:
    """The advisory lock key of one platform thread: 64 bits of a hash of the account
    and the thread key (a collision only makes a batch leave an event for later)."""
    digest = hashlib.blake2b(f"{brand_account_id}:{thread_key}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _threads_take(
    parsed: list[tuple[InboundEvent, list[NormalizedEvent] | None]],
) -> list[tuple[InboundEvent, list[NormalizedEvent] | None]]:
    """Take the batch's threads for this transaction; return the events it may ingest.

    Two workers whose batches share a thread would otherwise wait for one another: the
    second for each conversation the first has locked, until the first commits, so that
    two workers draining one busy account went no faster than one (bench/FINDINGS.md).
    Each thread is taken instead by a transaction-level advisory lock, without waiting
    (``pg_try_advisory_xact_lock``); an event of a thread another batch holds is left
    pending as it is, not counted as an attempt, for the next batch, which claims it
    first (received order). Its thread's events are then ingested after the other
    batch's, which came before. Only when every event of the batch is held elsewhere does
    the batch wait, for those threads in one order, so that a drain always progresses.
    """
    keys = {
        event.pk: {
            _thread_lock_key(event.brand_account_id, item.thread_key)
            for item in normalized or ()
            if item.thread_key
        }
        for event, normalized in parsed
    }
    wanted = sorted(set().union(*keys.values()))
    if not wanted:
        return parsed
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key FROM unnest(%s::bigint[]) AS key WHERE NOT pg_try_advisory_xact_lock(key)",
            [wanted],
        )
        held_elsewhere = {key for (key,) in cursor.fetchall()}
        taken = [pair for pair in parsed if not keys[pair[0].pk] & held_elsewhere]
        if taken or not held_elsewhere:
            return taken
        # The array's order is the order the locks are taken in (a subquery with an ORDER
        # BY is not flattened into the outer query).
        cursor.execute(
            "SELECT pg_advisory_xact_lock(key) "
            "FROM (SELECT key FROM unnest(%s::bigint[]) AS key ORDER BY key) AS ordered",
            [sorted(held_elsewhere)],
        )
    return parsed


def _process_run(run: list[tuple[InboundEvent, list[NormalizedEvent]]]) -> None:
    """Ingest parsed, batchable events set-based, one savepoint per brand account.

    If anything in a savepoint fails (a concurrent writer won a unique key, a bad value),
    it rolls back and its events go the per-event way, which isolates the one at fault
    and retries it with backoff; so do the events whose authors need the per-event rules.
    """
    groups: dict = {}
    for event, normalized in run:
        groups.setdefault(event.brand_account_id, []).append((event, normalized))
    left = set()
    for group in groups.values():
        deferred = _ingest_group(group)
        for index, (event, _) in enumerate(group):
            if deferred is None or index in deferred:
                left.add(event.pk)
            else:
                _succeeded(event)
    for event, _ in run:
        if event.pk in left:
            _process_one(event)


def _ingest_group(group: list[tuple[InboundEvent, list[NormalizedEvent]]]) -> set[int] | None:
    """One brand account's events set-based; the indexes left over, or None if it failed.

    A ``RowsConflict`` means another worker was creating some of the same people,
    threads or messages: the conflicting insert waited for that worker's commit, so a
    second attempt finds its rows and goes through. A deadlock aborts the whole batch,
    which ``inbound_events_process_batch`` runs again.
    """
    for attempt in range(1, SET_BASED_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return normalized_events_ingest_batch(
                    account=group[0][0].brand_account,
                    deliveries=[normalized for _, normalized in group],
                )
        except RowsConflict as exc:
            logger.info("another writer came first (%s), attempt %s", exc, attempt)
        except Exception as exc:
            if is_deadlock(exc):
                raise
            logger.exception("set-based ingest of %s events failed: one by one", len(group))
            return None
    return None


@contextmanager
def _collector_paused():
    """Hold Python's cyclic garbage collector off for the length of a batch.

    A batch allocates tens of thousands of short-lived objects (rows, model instances,
    event data), which keep triggering collections that walk the worker's whole heap: the
    collector was the largest single item in the ingest profile (bench/FINDINGS.md). Those
    objects are freed by reference counting anyway; the few cycles wait until the batch
    ends, so memory stays bounded by one batch.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _accounts_attach(events: list[InboundEvent]) -> None:
    """Give a batch's events their brand account and workspace, read once per batch.

    Joined to each event's row, an account was built (and its credentials decrypted)
    once per event: 4 % of a batch's time.
    """
    accounts = BrandAccount.objects.select_related("workspace").in_bulk(
        {event.brand_account_id for event in events}
    )
    # The rows' own ids already name them: only the related objects' cache is filled, as
    # select_related does, without the descriptors' checks (2 % of a batch's CPU).
    account_field = InboundEvent._meta.get_field("brand_account")
    workspace_field = InboundEvent._meta.get_field("workspace")
    for event in events:
        account = accounts[event.brand_account_id]
        account_field.set_cached_value(event, account)
        if event.workspace_id == account.workspace_id:
            workspace_field.set_cached_value(event, account.workspace)


def inbound_events_process_batch(*, limit: int = BATCH_SIZE) -> int:
    """Process up to ``limit`` due pending events in one transaction; return how many it
    ingested (those of threads another worker's batch holds stay pending for the next).

    The batch's events are recorded at its end (``events_deferred``), after every row it
    locks, so that it never waits for a row while holding a workspace's event sequence.
    A writer that does (records, then locks a row the batch holds) can still deadlock
    with it at that point: the batch, if it is the victim, runs again whole.
    """
    with _collector_paused():
        return atomic_retrying(lambda: _batch_process(limit))


def _claim(limit: int) -> list[InboundEvent]:
    """Lock up to ``limit`` due pending events, oldest first, skipping those others hold.

    Read through a cursor: PostgreSQL then plans for the first rows, which an ordered
    scan of ``inbound_pending`` gives at once. As one query it plans for all the rows it
    expects, and with statistics taken before a backlog arrived (a burst, a COPY) it
    expects a few: it read every pending entry (and the dead ones left by processed
    rows) by a bitmap scan, then sorted them, 13 ms per batch under a backlog of 2,000
    (bench/FINDINGS.md).
    """
    now = timezone.now()
    return list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(status="pending")
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("received_at", "id")[:limit]
        .iterator(chunk_size=limit)
    )


def _batch_process(limit: int) -> int:
    events = _claim(limit)
    _accounts_attach(events)
    with events_deferred():
        ingested = _process_events(events)
        # Before the events are recorded: the sequence lock then covers only their insert
        # and the commit, not the statuses' update nor the batch's foreign-key checks.
        rows_update(ingested, ["status", "attempts", "error", "next_attempt_at", "processed_at"])
        _deferred_checks_run()
    _deferred_checks_defer()
    return len(ingested)


def _deferred_checks_run() -> None:
    # PostgreSQL checks foreign keys (deferrable, initially deferred) at commit: run the
    # batch's checks now, each a lookup of the row referred to.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _deferred_checks_defer() -> None:
    # Back to checking at commit, as every other write of the transaction expects.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def inbound_events_drain(*, budget_seconds: float = DRAIN_SECONDS) -> int:
    """Process batches until nothing is due or the time budget is spent; return the count."""
    started, total = time.monotonic(), 0
    while True:
        # At least one batch, whatever the budget, so that every drain makes progress.
        done = inbound_events_process_batch(limit=BATCH_SIZE)
        total += done
        if done == 0 or time.monotonic() - started >= budget_seconds:
            return total
