"""The event log: every change records an event in the same transaction (the outbox).

Numbering takes a row lock on the workspace's ``EventSequence`` until commit, so ``seq``
is gapless and readers see events in commit order (see the model's docstring). Writers
of one workspace serialize on that lock from the moment they record until they commit:
record events as late in a transaction as possible, and record a batch's events in one
call to ``events_record``. A transaction that locks rows in several steps (an ingest
batch) records under ``events_deferred``, which keeps its events until every row is
locked, so that it never waits for a row while holding the sequence.
"""

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from itertools import takewhile
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from ..bulk import rows_insert
from ..models import Event, EventSequence, Workspace
from ..times import iso

logger = logging.getLogger(__name__)

# Sent after commit with ``workspace`` and ``events`` (a list of Event rows, in seq order).
# The realtime publisher and the webhook dispatcher listen to it.
events_committed = Signal()


def event_envelope(event: Event, *, workspace_slug: str) -> dict[str, Any]:
    """The public shape of an event, shared by the websocket, ``events/`` and webhooks."""
    return {
        "id": str(event.id),
        "seq": event.seq,
        "type": event.type,
        "workspace": workspace_slug,
        "occurred_at": iso(event.occurred_at),
        "data": event.data,
    }


def _seq_reserve(*, workspace: Workspace, count: int) -> int:
    """Take the workspace's sequence lock and reserve ``count`` numbers; return the last."""
    last = _seq_advance(workspace_id=workspace.pk, count=count)
    if last is None:
        # Workspaces get their row at creation; this covers rows made before that rule.
        EventSequence.objects.get_or_create(workspace_id=workspace.pk)
        last = _seq_advance(workspace_id=workspace.pk, count=count)
    return last


def _seq_advance(*, workspace_id, count: int) -> int | None:
    # One statement locks, increments and reads the row: every transaction that records
    # events runs it, so one round trip rather than an UPDATE and a SELECT.
    quote = connection.ops.quote_name
    key = EventSequence._meta.get_field("workspace")
    last = EventSequence._meta.get_field("last_seq").column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(EventSequence._meta.db_table)} SET {quote(last)} = {quote(last)} + %s "
            f"WHERE {quote(key.column)} = %s RETURNING {quote(last)}",
            [count, key.get_db_prep_value(workspace_id, connection)],
        )
        row = cursor.fetchone()
    return row[0] if row else None


class _Deferred:
    """Events recorded under ``events_deferred``, not yet numbered nor inserted.

    Each ``events_record`` call registers one of these as a (no-op) on-commit callback:
    Django drops the callbacks of a savepoint that rolls back, so the ones still
    registered at the flush are exactly the records whose savepoints were kept.
    """

    __slots__ = ("events", "workspace")

    def __init__(self, workspace: Workspace, events: list[Event]) -> None:
        self.workspace = workspace
        self.events = events

    def __call__(self) -> None:
        pass


_deferring = threading.local()


@contextmanager
def events_deferred() -> Iterator[None]:
    """Within the caller's transaction, hold what ``events_record`` records until the end.

    At the end of the block the events that remain (those of savepoints rolled back are
    dropped) are numbered and inserted in the order they were recorded, one
    ``events_record`` per workspace, workspaces in a fixed order: the sequence locks come
    after every row lock the block took, so two such blocks never deadlock on them. The
    events ``events_record`` returns inside the block get their ``seq`` at the end. A
    block inside another one adds to the outer one's events.
    """
    if getattr(_deferring, "active", False):
        yield
        return
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("events_deferred needs a transaction.")
    _deferring.active = True
    try:
        yield
    except BaseException:
        _deferred_take()  # the transaction the exception aborts takes them with it
        raise
    finally:
        _deferring.active = False
    kept = _deferred_take()
    for workspace in sorted(kept, key=lambda workspace: str(workspace.pk)):
        _events_insert(workspace=workspace, events=kept[workspace])


def _deferred_take() -> dict[Workspace, list[Event]]:
    # The records still registered (their savepoints were kept), per workspace in the
    # order they were made, taken off the on-commit list where they only served to know
    # which savepoints rolled back.
    kept: dict[Workspace, list[Event]] = {}
    for _, callback, _ in connection.run_on_commit:
        if isinstance(callback, _Deferred):
            kept.setdefault(callback.workspace, []).extend(callback.events)
    connection.run_on_commit = [
        entry for entry in connection.run_on_commit if not isinstance(entry[1], _Deferred)
    ]
    return kept


def events_record(
    *, workspace: Workspace, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[Event]:
    """Append events ``(type, data)`` to the workspace's log inside the caller's transaction.

    Must run inside ``transaction.atomic``; after commit the events are handed to the
    ``events_committed`` listeners. Under ``events_deferred`` they are inserted at the end
    of its block.
    """
    if not items:
        return []
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return events_record(workspace=workspace, items=items)
    events = [_event_new(workspace, event_type, data) for event_type, data in items]
    if getattr(_deferring, "active", False):
        transaction.on_commit(_Deferred(workspace, events))
    else:
        _events_insert(workspace=workspace, events=events)
    return events


# The event's fields in ``Model.__init__``'s positional form (the one rows read from the
# database take), half the cost of keywords: a batch of messages builds two events per
# message. ``seq`` and ``occurred_at`` are set when the events are inserted.
_EVENT_FIELDS = [field.attname for field in Event._meta.concrete_fields]
_EVENT_WORKSPACE_ID, _EVENT_ID, _EVENT_TYPE, _EVENT_DATA = (
    _EVENT_FIELDS.index(name) for name in ("workspace_id", "id", "type", "data")
)
_EVENT_WORKSPACE = Event._meta.get_field("workspace")
_EVENT_NEW_ID = Event._meta.pk.default


def _event_new(workspace: Workspace, event_type: str, data: dict[str, Any]) -> Event:
    values: list[Any] = [None] * len(_EVENT_FIELDS)
    values[_EVENT_WORKSPACE_ID] = workspace.pk
    values[_EVENT_ID] = _EVENT_NEW_ID()
    values[_EVENT_TYPE] = event_type
    values[_EVENT_DATA] = data
    event = Event(*values)
    _EVENT_WORKSPACE.set_cached_value(event, workspace)
    return event


def _events_insert(*, workspace: Workspace, events: list[Event]) -> None:
    # Numbered and stamped under the sequence lock, so that seq and occurred_at follow
    # commit order.
    last = _seq_reserve(workspace=workspace, count=len(events))
    first = last - len(events) + 1
    now = timezone.now()
    for offset, event in enumerate(events):
        event.seq = first + offset
        event.occurred_at = now
    rows_insert(events)
    transaction.on_commit(lambda: _events_dispatch(workspace=workspace, events=events))


def event_record(*, workspace: Workspace, type: str, data: dict[str, Any]) -> Event:
    """Append one event to the workspace's log inside the caller's transaction."""
    return events_record(workspace=workspace, items=[(type, data)])[0]


def _events_dispatch(*, workspace: Workspace, events: Iterable[Event]) -> None:
    # The data is committed and readable through events/ whatever a listener does, so a
    # failing listener is logged and never undoes or blocks the write that caused it.
    for receiver, result in events_committed.send_robust(
        sender=Event, workspace=workspace, events=list(events)
    ):
        if isinstance(result, Exception):
            logger.error(
                "event listener %s failed: %r",
                getattr(receiver, "__qualname__", receiver),
                result,
                exc_info=result,
            )


def events_prune(*, batch_size: int = 1000, max_batches: int = 50) -> int:
    """Delete events older than ``CAUSERIE_EVENT_RETENTION``; return how many went.

    Works from the oldest event of each workspace forward, along the ``(workspace, seq)``
    index, ``batch_size`` events per statement and at most ``max_batches`` statements per
    call (beat calls again later), so that a large backlog never holds long locks. The
    newest event of a workspace is always kept: numbering comes from ``EventSequence``, so
    ``seq`` keeps increasing whatever is pruned, and the log keeps showing where it ends.
    Clients that resume from a pruned ``seq`` are told to resync (``subscription_start``).
    """
    retention = getattr(settings, "CAUSERIE_EVENT_RETENTION", timedelta(days=30))
    cutoff = timezone.now() - retention
    deleted = 0
    batches = 0
    for workspace_id in EventSequence.objects.order_by("pk").values_list("workspace_id", flat=True):
        newest = (
            Event.objects.filter(workspace_id=workspace_id)
            .order_by("-seq")
            .values_list("seq", flat=True)
            .first()
        )
        while newest is not None and batches < max_batches:
            oldest = list(
                Event.objects.filter(workspace_id=workspace_id, seq__lt=newest)
                .order_by("seq")
                .values_list("seq", "occurred_at")[:batch_size]
            )
            # Events are numbered in commit order, so the expired ones come first.
            expired = list(takewhile(lambda row: row[1] < cutoff, oldest))
            if not expired:
                break
            batches += 1
            _, per_model = Event.objects.filter(
                workspace_id=workspace_id,
                seq__gte=expired[0][0],
                seq__lte=expired[-1][0],
                occurred_at__lt=cutoff,
            ).delete()
            deleted += per_model.get(Event._meta.label, 0)
            if len(expired) < len(oldest) or len(oldest) < batch_size:
                break
    return deleted
