"""Set-based writes store what the ORM's ``save()`` stores, whatever the values' types."""

import uuid
from datetime import datetime

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm import bulk
from crm.bulk import (
    RowsConflict,
    row_new,
    rows_insert,
    rows_insert_new,
    rows_update,
    rows_where_in,
)
from crm.models import Event

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True, params=["statement", "copy"])
def insert_path(request, monkeypatch):
    """Every test twice: inserts by ``INSERT ... SELECT FROM unnest`` and by COPY, which
    a batch of ``COPY_MIN_ROWS`` rows takes: both store what ``save()`` stores."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1 if request.param == "copy" else 10**9)
    return request.param


COLUMNS = ("workspace_id", "seq", "type", "occurred_at", "data")


def _values(seq: int):
    return Event.objects.filter(seq=seq).values(*COLUMNS).get()


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_values_the_fields_prepare_are_stored_as_save_stores_them(ws):
    # Values of other types than their column's: a field converts them before sending.
    def event(seq) -> Event:
        return Event(
            workspace_id=str(ws.workspace.pk),
            seq=str(seq),
            type=gettext_lazy("contact.created"),
            occurred_at=datetime(2026, 1, 2, 3, 4, 5),  # noqa: DTZ001 (made aware by the field)
            data={"n": 1},
        )

    event(1).save()
    rows_insert([event(2)])

    saved, inserted = _values(1), _values(2)
    assert inserted == {**saved, "seq": 2}
    assert inserted["type"] == "contact.created"
    assert inserted["workspace_id"] == ws.workspace.pk


def test_an_update_writes_the_values_as_given(ws):
    at = timezone.now()
    rows_insert([Event(id=uuid.uuid4(), workspace=ws.workspace, seq=1, type="a", occurred_at=at)])
    event = Event.objects.get(seq=1)
    event.type, event.data = 7, {"x": [1, "y"]}

    rows_update([event], ["type", "data"])

    assert _values(1) == {
        "workspace_id": ws.workspace.pk,
        "seq": 1,
        "type": "7",
        "occurred_at": at,
        "data": {"x": [1, "y"]},
    }


def test_rows_as_dicts_store_what_instances_store(ws):
    # A field left out takes its default, as ``Event(**values)`` would hold it.
    at = timezone.now()
    row = row_new(Event, workspace_id=ws.workspace.pk, seq=1, type="a", occurred_at=at)
    assert set(row) == {field.attname for field in Event._meta.concrete_fields}
    rows_insert([Event(workspace=ws.workspace, seq=2, type="a", occurred_at=at)])

    rows_insert_new([row], model=Event)

    assert _values(1) == {**_values(2), "seq": 1}
    assert Event.objects.get(seq=1).pk == row["id"]

    row["type"], row["data"] = "b", {"x": ["é", None]}
    rows_update([row], ["type", "data"], model=Event)

    assert _values(1) == {**_values(2), "seq": 1, "type": "b", "data": {"x": ["é", None]}}
    with pytest.raises(RowsConflict):
        rows_insert_new([row], model=Event)


def test_a_value_shared_by_every_row_is_stored_in_each_and_checked_as_any_other(ws):
    at = timezone.now()
    rows = [
        row_new(Event, workspace_id=ws.workspace.pk, seq=seq, type="same", occurred_at=at)
        for seq in (1, 2, 3)
    ]

    rows_insert_new(rows, model=Event)

    stored = Event.objects.order_by("seq").values_list("seq", "type", "occurred_at", "workspace_id")
    assert list(stored) == [(seq, "same", at, ws.workspace.pk) for seq in (1, 2, 3)]
    # Too long for its column: refused, not cut, whether sent once or per row.
    too_long = [
        row_new(Event, workspace_id=ws.workspace.pk, seq=seq, type="x" * 500, occurred_at=at)
        for seq in (4, 5)
    ]
    with pytest.raises(DataError), transaction.atomic():
        rows_insert_new(too_long, model=Event)


def test_json_values_are_stored_as_save_stores_them_whatever_json_text_they_need(ws):
    # orjson writes most; json.dumps what orjson refuses (keys that are not strings, an
    # integer over 64 bits); a time is refused by both, as by save().
    at = timezone.now()
    documents = [
        {"text": "Merci 🙏 \u2028 é", "nested": [1, 2.5, None, True, {"x": []}]},
        {1: "one", None: "none", 2.5: "float key"},
        {"big": 2**70, "negative": -(2**65)},
        [],
        "a string alone",
    ]
    for seq, document in enumerate(documents, start=1):
        Event(workspace=ws.workspace, seq=seq, type="saved", occurred_at=at, data=document).save()
    rows_insert_new(
        [
            row_new(Event, workspace_id=ws.workspace.pk, seq=100 + seq, type="bulk", data=document)
            for seq, document in enumerate(documents, start=1)
        ],
        model=Event,
    )

    for seq in range(1, len(documents) + 1):
        assert _values(100 + seq)["data"] == _values(seq)["data"]
    assert _values(102)["data"] == {"1": "one", "null": "none", "2.5": "float key"}
    assert _values(103)["data"] == {"big": 2**70, "negative": -(2**65)}
    with pytest.raises(TypeError), transaction.atomic():
        rows_insert_new(
            [row_new(Event, workspace_id=ws.workspace.pk, seq=200, type="x", data={"at": at})],
            model=Event,
        )


def test_rows_where_in_reads_what_the_orms_lookup_reads(ws, make_workspace):
    other = make_workspace("elsewhere")
    at = timezone.now()
    documents = {1: {"x": ["é", None, 2.5]}, 2: [], 3: {"nested": {"a": True}}}
    for seq, data in documents.items():
        Event(workspace=ws.workspace, seq=seq, type="t", occurred_at=at, data=data).save()
    Event(workspace=other.workspace, seq=1, type="t", occurred_at=at, data={}).save()
    columns = ("id", "workspace_id", "seq", "type", "occurred_at", "data")
    wanted = list(
        Event.objects.filter(workspace=ws.workspace, seq__in=[1, 3]).values_list("id", flat=True)
    )

    read = rows_where_in(Event, columns, key="id", values=wanted)

    assert read == list(Event.objects.filter(id__in=wanted).values(*columns))
    assert {row["seq"]: row["data"] for row in read} == {1: documents[1], 3: documents[3]}
    assert {row["workspace_id"] for row in read} == {ws.workspace.pk}
    by_workspace = rows_where_in(Event, columns, key="workspace_id", values=[other.workspace.pk])
    assert [(row["seq"], row["data"]) for row in by_workspace] == [(1, {})]
    assert rows_where_in(Event, columns, key="workspace_id", values=[]) == []


def test_a_copied_insert_is_one_logged_statement_and_a_duplicate_a_conflict(ws, insert_path):
    at = timezone.now()
    rows = [
        row_new(Event, workspace_id=ws.workspace.pk, seq=seq, type="a", occurred_at=at)
        for seq in range(1, 101)
    ]
    with CaptureQueriesContext(connection) as captured:
        rows_insert_new(rows, model=Event)
    (statement,) = [q["sql"] for q in captured.captured_queries]
    assert statement.startswith("COPY" if insert_path == "copy" else "INSERT")
    assert Event.objects.count() == 100

    # Another writer's row among them: the batch is refused whole, nothing is left of it.
    again = [
        row_new(Event, workspace_id=ws.workspace.pk, seq=seq, type="b", occurred_at=at)
        for seq in range(101, 201)
    ]
    again[50]["id"] = rows[7]["id"]
    with pytest.raises(RowsConflict), transaction.atomic():
        rows_insert_new(again, model=Event)
    assert Event.objects.count() == 100
    assert not Event.objects.filter(type="b").exists()
