"""Primary keys made in time order (UUID version 7)."""

import time
import uuid

import pytest
from django.db import connection

from crm.ids import uuid7
from crm.models import Event
from crm.services.events import events_record


def test_a_key_is_a_version_7_uuid_that_starts_with_its_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    key = uuid7()
    after = time.time_ns() // 1_000_000

    assert key.version == 7
    assert key.variant == uuid.RFC_4122
    assert before <= key.int >> 80 <= after
    assert len({uuid7() for _ in range(1000)}) == 1000


@pytest.mark.django_db
def test_keys_made_later_sort_after_earlier_ones_here_and_in_postgresql():
    keys = []
    for _ in range(5):
        keys.append(uuid7())
        time.sleep(0.002)

    assert sorted(keys) == keys
    assert sorted(str(key) for key in keys) == [str(key) for key in keys]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT k FROM unnest(%s::uuid[]) AS k ORDER BY k", [keys[::-1]])
            assert [row[0] for row in cursor.fetchall()] == keys


@pytest.mark.django_db
def test_the_event_log_and_the_models_make_time_ordered_keys(ws):
    first = events_record(workspace=ws.workspace, items=[("contact.created", {})])[0]
    time.sleep(0.002)
    second = events_record(workspace=ws.workspace, items=[("contact.created", {})])[0]

    assert (first.pk.version, second.pk.version) == (7, 7)
    assert first.pk < second.pk
    assert Event.objects.order_by("pk").last().pk == second.pk
    assert ws.workspace.pk.version == 7
