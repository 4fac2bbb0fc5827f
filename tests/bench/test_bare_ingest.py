"""The bare ingest (the ingest benchmark's floor) writes what the drain writes for the same
events: the same rows in the same tables, event documents of the same keys."""

from collections import Counter

import pytest
from django.db import connection, transaction

from bench.bare_ingest import account_of, bare_ingest_batch
from bench.benchmarks import _copy_pending, _pending_rows
from bench.dataset import generate
from contacts.models import Contact, Identity
from conversations.models import Conversation, Message
from crm.models import Event
from integrations.models import InboundEvent
from integrations.services.processing import inbound_events_drain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _keys(data, prefix=""):
    """Every key of a document, nested ones as paths; a list's items by the first's keys."""
    found = set()
    for key, value in data.items():
        found.add(prefix + key)
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            found |= _keys(value[0], f"{prefix}{key}[].")
    return found


def _written(built, since_seq: int) -> dict:
    """What an ingest wrote, without its generated ids and clock times."""
    ws = built.workspace
    known_threads = {c.thread_key: c for c in Conversation.objects.filter(workspace=ws)}
    messages = Message.objects.filter(workspace=ws, external_id__startswith="m_same_")
    events = Event.objects.filter(workspace=ws, seq__gt=since_seq)
    return {
        "contacts": Contact.objects.filter(workspace=ws).count(),
        "identities": sorted(
            Identity.objects.filter(workspace=ws).values_list(
                "platform", "external_id", "scope_key", "handle", "display_name"
            )
        ),
        "conversations": sorted(
            (
                key,
                c.status,
                c.unread_count,
                c.waiting_since,
                c.last_message_at,
                c.last_inbound_at,
                c.last_message_preview,
                c.last_message_direction,
                c.contact.identities.get(platform="facebook").external_id,
            )
            for key, c in known_threads.items()
            if c.platform == "facebook" and c.messages.filter(pk__in=messages).exists()
        ),
        "messages": sorted(
            messages.values_list(
                "conversation__thread_key",
                "external_id",
                "text",
                "received_at",
                "direction",
                "author_type",
                "author_name",
                "status",
                "private",
            )
        ),
        "events": Counter(events.values_list("type", flat=True)),
        "event_keys": {
            kind: sorted({key for e in events.filter(type=kind) for key in _keys(e.data)})
            for kind in set(events.values_list("type", flat=True))
        },
        "pending": InboundEvent.objects.filter(workspace=ws, status="pending").count(),
    }


def test_the_bare_ingest_writes_the_rows_and_event_keys_the_drain_writes():
    built = generate("tiny", slug="bench-bare", log=lambda *args: None)
    # Known senders (on threads and not) and new ones, some writing twice.
    rows = _pending_rows(built, 60, "same")
    last = Event.objects.filter(workspace=built.workspace).order_by("-seq").first()
    since = last.seq if last else 0

    point = transaction.savepoint()
    _copy_pending(rows)
    assert inbound_events_drain(budget_seconds=60) == len(rows)
    by_drain = _written(built, since)
    transaction.savepoint_rollback(point)

    _copy_pending(rows)
    account = account_of(built.brand_accounts["facebook"])
    assert bare_ingest_batch(connection.connection, account) == len(rows)
    by_bare = _written(built, since)

    assert by_drain["pending"] == by_bare["pending"] == 0
    assert by_drain["events"]["contact.created"] > 0  # new senders are in the batch
    assert by_drain["events"]["conversation.updated"] > 0  # and known threads
    assert len(by_drain["messages"]) == len(rows)
    for part in ("contacts", "identities", "conversations", "messages", "events", "event_keys"):
        assert by_bare[part] == by_drain[part], part
