import random
import threading
import time

import pytest
from django.db import connection, transaction

from crm.models import Event
from crm.services.events import event_record, events_committed, events_deferred, events_record


def test_events_are_numbered_from_one_without_gaps(ws):
    for i in range(3):
        event_record(workspace=ws.workspace, type="contact.created", data={"i": i})
    events_record(
        workspace=ws.workspace,
        items=[("contact.updated", {"i": 3}), ("contact.updated", {"i": 4})],
    )

    seqs = list(
        Event.objects.filter(workspace=ws.workspace).order_by("seq").values_list("seq", flat=True)
    )

    assert seqs == [1, 2, 3, 4, 5]


def test_each_workspace_has_its_own_sequence(ws, other_ws):
    event_record(workspace=ws.workspace, type="contact.created", data={})
    event_record(workspace=ws.workspace, type="contact.created", data={})

    theirs = event_record(workspace=other_ws.workspace, type="contact.created", data={})

    assert theirs.seq == 1


def test_a_rolled_back_write_gives_its_seq_back(ws):
    event_record(workspace=ws.workspace, type="contact.created", data={})

    def failing_write():
        with transaction.atomic():
            event_record(workspace=ws.workspace, type="contact.created", data={"lost": True})
            raise RuntimeError("the write fails after recording its event")

    with pytest.raises(RuntimeError):
        failing_write()

    after = event_record(workspace=ws.workspace, type="contact.created", data={})

    assert after.seq == 2
    assert not Event.objects.filter(data__lost=True).exists()


def test_listeners_get_events_only_after_commit(ws, django_capture_on_commit_callbacks):
    received = []

    def listener(*, workspace, events, **kwargs):
        received.extend(e.seq for e in events)

    events_committed.connect(listener, sender=Event, weak=False)
    try:
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            transaction.atomic(),
        ):
            events_record(
                workspace=ws.workspace, items=[("contact.created", {}), ("contact.updated", {})]
            )
            assert received == []
        assert len(callbacks) == 1
        assert received == [1, 2]
    finally:
        events_committed.disconnect(listener, sender=Event)


def test_deferred_events_are_recorded_at_the_end_in_order_without_rolled_back_savepoints(
    ws, other_ws, django_capture_on_commit_callbacks
):
    received = []

    def listener(*, workspace, events, **kwargs):
        received.append((workspace.slug, [(e.seq, e.data["n"]) for e in events]))

    def recorded(workspace):
        return list(Event.objects.filter(workspace=workspace).order_by("seq").values("seq", "data"))

    def failing_event(n: int, then: int | None = None):
        with transaction.atomic():
            event_record(workspace=ws.workspace, type="contact.created", data={"n": n})
            if then is not None:
                with transaction.atomic():  # released, then rolled back with its parent
                    event_record(workspace=ws.workspace, type="contact.created", data={"n": then})
            raise RuntimeError("the event failed")

    before = {w.slug: len(recorded(w)) for w in (ws.workspace, other_ws.workspace)}
    events_committed.connect(listener, sender=Event, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            with events_deferred():
                first = event_record(workspace=ws.workspace, type="contact.created", data={"n": 1})
                with pytest.raises(RuntimeError):
                    failing_event(-1, then=-2)
                with transaction.atomic():
                    event_record(
                        workspace=other_ws.workspace, type="contact.created", data={"n": 2}
                    )
                    with pytest.raises(RuntimeError):
                        failing_event(-3)
                events_record(
                    workspace=ws.workspace,
                    items=[("contact.updated", {"n": 3}), ("contact.updated", {"n": 4})],
                )
                # Nothing numbered nor written (so no sequence locked) before the end.
                assert first.seq is None
                assert len(recorded(ws.workspace)) == before["acme"]
            assert received == []
    finally:
        events_committed.disconnect(listener, sender=Event)

    ours = recorded(ws.workspace)[before["acme"] :]
    assert [e["data"]["n"] for e in ours] == [1, 3, 4]
    assert [e["seq"] for e in ours] == [before["acme"] + 1, before["acme"] + 2, before["acme"] + 3]
    theirs = recorded(other_ws.workspace)[before["globex"] :]
    assert [e["data"]["n"] for e in theirs] == [2]
    assert first.seq == ours[0]["seq"]
    assert sorted(received) == [
        ("acme", [(e["seq"], e["data"]["n"]) for e in ours]),
        ("globex", [(theirs[0]["seq"], 2)]),
    ]


def test_a_failing_listener_does_not_break_the_write(ws, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise RuntimeError("webhook dispatcher down")

    events_committed.connect(broken, sender=Event, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            event = event_record(workspace=ws.workspace, type="contact.created", data={})
    finally:
        events_committed.disconnect(broken, sender=Event)

    assert Event.objects.filter(pk=event.pk).exists()


def test_events_endpoint_pages_after_a_seq_in_the_envelope(ws, client):
    for i in range(5):
        event_record(workspace=ws.workspace, type="conversation.updated", data={"n": i})

    first = client.get(ws.url("events/?after=1&page_size=2")).json()
    second = client.get(first["next"]).json()
    caught_up = client.get(ws.url("events/?after=5")).json()

    assert [e["seq"] for e in first["results"]] == [2, 3]
    assert [e["seq"] for e in second["results"]] == [4, 5]
    assert second["next"] is None
    assert caught_up == {"results": [], "next": None, "previous": None}
    envelope = first["results"][0]
    assert set(envelope) == {"id", "seq", "type", "workspace", "occurred_at", "data"}
    assert envelope["workspace"] == "acme"
    assert envelope["data"] == {"n": 1}
    assert envelope["occurred_at"].endswith("Z")


def test_events_are_filtered_by_the_credential_scopes(ws, client):
    event_record(workspace=ws.workspace, type="contact.created", data={})
    event_record(workspace=ws.workspace, type="message.created", data={})
    from tests.conftest import client_with

    token = client.post(ws.url("api-keys/"), {"name": "c", "scopes": ["contacts:read"]}).json()[
        "key"
    ]

    types = [e["type"] for e in client_with(token).get(ws.url("events/")).json()["results"]]

    assert types == ["contact.created"]


@pytest.mark.parametrize("after", ["-1", "abc"])
def test_bad_after_is_a_validation_error(ws, client, after):
    response = client.get(ws.url(f"events/?after={after}"))

    assert response.status_code == 400
    assert "after" in response.json()["error"]["details"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_expose_a_later_seq_before_an_earlier_one(make_workspace):
    """Readers polling during concurrent writes always see a gapless prefix of the log.

    Writers hold their transaction open for a random time after recording, so commit order
    differs from the order in which they started; a sequence that numbers at insert time
    (a database sequence, MAX(seq)+1 without a lock) makes the reader see gaps here.
    """
    workspace = make_workspace("race").workspace
    writers, per_writer = 6, 15
    errors: list[str] = []
    done = threading.Event()

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            for i in range(per_writer):
                with transaction.atomic():
                    time.sleep(rng.random() * 0.004)
                    event_record(workspace=workspace, type="contact.updated", data={"w": n, "i": i})
                    time.sleep(rng.random() * 0.004)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def reader() -> None:
        last = 0
        try:
            while not done.is_set() or last < writers * per_writer:
                seqs = list(
                    Event.objects.filter(workspace=workspace, seq__gt=last)
                    .order_by("seq")
                    .values_list("seq", flat=True)
                )
                expected = list(range(last + 1, last + 1 + len(seqs)))
                if seqs != expected:
                    errors.append(f"after {last} the reader saw {seqs[:5]}...")
                    return
                last = seqs[-1] if seqs else last
                if done.is_set() and not seqs:
                    break
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    read.join()

    assert errors == []
    seqs = sorted(Event.objects.filter(workspace=workspace).values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
