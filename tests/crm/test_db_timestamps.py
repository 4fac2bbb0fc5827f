"""Timestamps read back from PostgreSQL are exactly what was stored, aware and in UTC,
whichever loader reads them (the C loader that crm.db installs, or Django's own)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from crm.models import Event
from crm.services.events import events_record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

STORED = [
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 0, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2030, 6, 1, 0, 0, 0, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
]


def test_timestamps_come_back_equal_aware_and_in_utc():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [STORED],
        )
        loaded = [row[0] for row in cursor.fetchall()]

    assert loaded == STORED
    assert all(value.tzinfo is UTC for value in loaded)
    assert [value.isoformat() for value in loaded] == [
        value.astimezone(UTC).isoformat() for value in STORED
    ]


def test_new_connections_read_timestamps_through_the_c_loader():
    from psycopg import adapters, pq

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    oid = adapters.types["timestamptz"].oid
    loader = connection.connection.adapters.get_loader(oid, pq.Format.TEXT)

    assert loader.__name__ == "UtcTimestamptzLoader"
    # Django re-registers its own loader on a cursor when the zones differ.
    assert loader.timezone == connection.timezone


def test_a_connection_taken_again_from_the_pool_keeps_its_loader():
    from psycopg import adapters, pq

    from crm.db import fast_timestamp_loader_install

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    oid = adapters.types["timestamptz"].oid
    installed = connection.connection.adapters.get_loader(oid, pq.Format.TEXT)

    # What Django's connection_created does on each checkout from the pool.
    fast_timestamp_loader_install(sender=type(connection), connection=connection)

    assert connection.connection.adapters.get_loader(oid, pq.Format.TEXT) is installed


def test_model_timestamps_round_trip(make_workspace):
    workspace = make_workspace("timestamps").workspace
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    (event,) = events_record(workspace=workspace, items=[("contact.created", {"id": "x"})])
    Event.objects.filter(pk=event.pk).update(occurred_at=moment)

    assert Event.objects.get(pk=event.pk).occurred_at == moment
