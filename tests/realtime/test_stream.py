"""Subscribe with ``after``: replay from the log, then live, exactly once, in order."""

from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from conversations import realtime
from crm.models import Event
from crm.realtime import workspace_group
from crm.services.events import event_envelope, event_record

from .conftest import subscribed, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _record(ws, count: int = 1) -> list[int]:
    """Commit ``count`` contact events (one transaction each); return their seqs."""
    return [
        event_record(workspace=ws.workspace, type="contact.updated", data={"n": i}).seq
        for i in range(count)
    ]


async def test_replay_then_live_with_events_committed_during_the_replay(ws, ws_client, monkeypatch):
    await sync(_record)(ws, 5)
    real_page = realtime.event_log_page
    calls = {"n": 0}

    def page_committing_meanwhile(**kwargs):
        # During the first log read, two events commit just before the read (so they are
        # both read and published live: duplicates) and two just after it (live only).
        calls["n"] += 1
        if calls["n"] == 1:
            _record(ws, 2)
        rows = real_page(**kwargs)
        if calls["n"] == 1:
            _record(ws, 2)
        return rows

    monkeypatch.setattr("conversations.consumers.event_log_page", page_committing_meanwhile)
    client = await subscribed(ws_client, ws.token, ws.slug, after=2)

    got = await client.events(7)  # 3..5 replayed, 6..9 committed during the replay
    await sync(_record)(ws, 2)  # and live ones afterwards
    got += await client.events(2)

    assert [e["seq"] for e in got] == list(range(3, 12))
    assert got[0]["type"] == "contact.updated"
    await client.nothing()
    await client.close()


async def test_subscribe_without_after_streams_from_now_on(ws, ws_client):
    await sync(_record)(ws, 3)
    client = await subscribed(ws_client, ws.token, ws.slug, after=None)
    await client.nothing()

    await sync(_record)(ws, 1)
    (event,) = await client.events(1)
    assert event["seq"] == 4
    assert set(event) == {"id", "seq", "type", "workspace", "occurred_at", "data"}
    assert event["workspace"] == ws.slug
    await client.close()


async def _publish(ws, seq: int) -> None:
    event = await sync(Event.objects.get)(workspace=ws.workspace, seq=seq)
    await get_channel_layer().group_send(
        workspace_group(ws.workspace.pk),
        {"type": "event.committed", "event": event_envelope(event, workspace_slug=ws.slug)},
    )


async def test_live_events_published_out_of_order_or_lost_are_ordered_and_filled(
    ws, ws_client, monkeypatch
):
    client = await subscribed(ws_client, ws.token, ws.slug, after=0)
    # Write events without publishing them, then publish by hand: 3 before 2, 1 duplicated,
    # 4 never (its publisher died after commit), 5 after the gap.
    monkeypatch.setattr("crm.realtime.get_channel_layer", lambda: None)
    await sync(_record)(ws, 5)
    for seq in (1, 3, 2, 1, 5):
        await _publish(ws, seq)

    got = await client.events(5)
    assert [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    await client.nothing()
    await client.close()


async def test_a_lost_last_publication_is_caught_up_by_the_heartbeat(
    ws, ws_client, monkeypatch, settings
):
    settings.CAUSERIE_REALTIME_HEARTBEAT_INTERVAL = 0.1
    client = await subscribed(ws_client, ws.token, ws.slug, after=0)
    monkeypatch.setattr("crm.realtime.get_channel_layer", lambda: None)
    await sync(_record)(ws, 2)  # committed, never published, nothing follows

    got = await client.events(2)
    assert [e["seq"] for e in got] == [1, 2]
    await client.close()


async def test_a_client_ahead_of_the_log_is_told_to_resync(ws, ws_client):
    await sync(_record)(ws, 2)
    client = await ws_client(token=ws.token)
    assert await client.connect()

    reply = await client.subscribe(ws.slug, after=50)
    assert reply == {"type": "resync", "reason": "ahead_of_log", "seq": 2}

    # The connection stays open: the client reloads, then subscribes from the given seq.
    again = await client.subscribe(ws.slug, after=reply["seq"])
    assert again["type"] == "subscribed"
    await sync(_record)(ws, 1)
    assert [e["seq"] for e in await client.events(1)] == [3]
    await client.close()


async def test_a_client_behind_pruned_or_too_many_events_is_told_to_resync(ws, ws_client, settings):
    await sync(_record)(ws, 6)
    # Retention: the two oldest events were pruned.
    await sync(lambda: Event.objects.filter(workspace=ws.workspace, seq__lte=2).delete())()
    client = await ws_client(token=ws.token)
    assert await client.connect()
    assert (await client.subscribe(ws.slug, after=1))["reason"] == "beyond_retention"
    # Still stored, but older than the retention period.
    await sync(
        lambda: Event.objects.filter(workspace=ws.workspace, seq=3).update(
            occurred_at=timezone.now() - timedelta(days=31)
        )
    )()
    assert (await client.subscribe(ws.slug, after=2))["reason"] == "beyond_retention"
    settings.CAUSERIE_REALTIME_MAX_REPLAY = 2
    assert (await client.subscribe(ws.slug, after=3))["reason"] == "too_far_behind"
    reply = await client.subscribe(ws.slug, after=4)
    assert reply["type"] == "subscribed"
    assert [e["seq"] for e in await client.events(2)] == [5, 6]
    await client.close()


async def test_protocol_errors_are_answered_not_fatal(ws, ws_client):
    client = await ws_client(token=ws.token)
    assert await client.connect()
    await client.communicator.send_to(text_data="not json")
    assert (await client.receive())["code"] == "bad_message"
    await client.send({"type": "dance"})
    assert (await client.receive())["code"] == "unknown_type"
    await client.send({"type": "subscribe", "workspace": ws.slug, "after": -1})
    assert (await client.receive())["code"] == "validation_error"
    await client.send({"type": "ping"})
    assert (await client.receive()) == {"type": "pong"}
    assert (await client.subscribe(ws.slug))["type"] == "subscribed"
    assert (await client.subscribe(ws.slug))["code"] == "already_subscribed"
    await client.close()
