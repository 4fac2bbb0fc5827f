"""Workspace isolation beyond the REST walk: the inbox websocket and the event log.

A member of workspace A, connected with a ticket, never receives an event or a presence
of workspace B, replayed or live; naming B's slug or B's conversations does nothing but
an error. ``events/`` and its long poll give A's events only, and B's commits neither
show up in nor wake A's poll.
"""

import threading
import time

import pytest
from django.db import connection

from conversations import presence
from conversations.services.messages import message_send
from crm.models import Event
from crm.services.events import event_record
from tests.conftest import client_with

from .conftest import Inbox, subscribed, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _traffic(ws, text: str):
    """A conversation with an inbound message, a reply and a private note, in ``ws``."""
    conversation = Inbox(ws).conversation(text=text)
    message_send(actor=ws.owner_actor, conversation=conversation, text=f"re: {text}")
    message_send(actor=ws.owner_actor, conversation=conversation, text="note", private=True)
    return conversation


def _ticket(ws, token: str) -> str:
    response = client_with(token).post(ws.url("realtime/tickets/"))
    assert response.status_code == 201, response.content
    return response.json()["ticket"]


def _event_ids(ws) -> set[str]:
    return {
        str(pk) for pk in Event.objects.filter(workspace=ws.workspace).values_list("id", flat=True)
    }


async def test_a_member_with_a_ticket_never_receives_the_other_workspaces_events(
    ws, other_ws, ws_client
):
    _, token = await sync(ws.add_member)("admin")
    _, other_token = await sync(other_ws.add_member)("admin")
    await sync(_traffic)(other_ws, "B before")  # in B's log before A subscribes
    await sync(_traffic)(ws, "A before")

    client = await ws_client(ticket=await sync(_ticket)(ws, token))
    assert await client.connect()
    assert (await client.subscribe(ws.slug, after=0))["type"] == "subscribed"
    other = await subscribed(ws_client, other_token, other_ws.slug, after=0)

    await sync(_traffic)(other_ws, "B live")
    await sync(_traffic)(ws, "A live")
    marker = await sync(event_record)(workspace=ws.workspace, type="contact.updated", data={})
    other_marker = await sync(event_record)(
        workspace=other_ws.workspace, type="contact.updated", data={}
    )

    received = await client.receive_until(lambda m: m.get("seq") == marker.seq)
    other_received = await other.receive_until(lambda m: m.get("seq") == other_marker.seq)
    events = [m for m in received if "seq" in m]
    assert {e["id"] for e in events} == await sync(_event_ids)(ws)
    assert {e["workspace"] for e in events} == {ws.slug}
    assert {e["id"] for e in other_received if "seq" in e} == await sync(_event_ids)(other_ws)
    # B keeps committing: none of it reaches A.
    await sync(_traffic)(other_ws, "B after")
    await client.nothing(wait=0.5)
    await client.close()
    await other.close()


async def test_naming_the_other_workspace_or_its_conversations_does_nothing(
    ws, other_ws, ws_client
):
    _, token = await sync(ws.add_member)("admin")
    _, other_token = await sync(other_ws.add_member)("admin")
    other_conversation = await sync(_traffic)(other_ws, "B")
    watcher = await subscribed(ws_client, other_token, other_ws.slug)

    client = await ws_client(ticket=await sync(_ticket)(ws, token))
    assert await client.connect()
    refused = await client.subscribe(other_ws.slug, after=0)
    assert (refused["type"], refused["code"]) == ("error", "not_found")
    # Not subscribed to anything: B's commits do not reach it.
    await sync(_traffic)(other_ws, "B again")
    await client.nothing(wait=0.5)

    assert (await client.subscribe(ws.slug))["type"] == "subscribed"
    for state in ("viewing", "typing"):
        await client.send(
            {"type": "presence", "conversation": str(other_conversation.pk), "state": state}
        )
        reply = await client.receive()
        assert (reply["type"], reply["code"]) == ("error", "not_found")
    # B's members see no presence from A, and B's conversation has no one typing in it.
    marker = await sync(event_record)(workspace=other_ws.workspace, type="contact.updated", data={})
    seen = await watcher.receive_until(lambda m: m.get("seq") == marker.seq)
    assert not [m for m in seen if m["type"] == "presence"]
    typing = await sync(presence.members_typing)(conversation_id=str(other_conversation.pk))
    assert typing == []
    await client.close()
    await watcher.close()


def test_the_event_log_lists_only_the_workspaces_own_events(ws, other_ws):
    _traffic(other_ws, "B")
    _traffic(ws, "A")
    _, token = ws.add_member("viewer")

    for credential in (ws.token, token):
        listed = client_with(credential).get(ws.url("events/?after=0&page_size=100")).json()
        assert {e["id"] for e in listed["results"]} <= _event_ids(ws)
        assert {e["workspace"] for e in listed["results"]} == {ws.slug}
        assert not {e["id"] for e in listed["results"]} & _event_ids(other_ws)
        # The other workspace's log, by its slug: 404, as for every other endpoint.
        response = client_with(credential).get(other_ws.url("events/?after=0"))
        assert response.status_code == 404


def test_a_long_poll_is_neither_woken_nor_answered_by_the_other_workspace(ws, other_ws):
    last = event_record(workspace=ws.workspace, type="contact.updated", data={}).seq

    def other_commits():
        try:
            for _ in range(3):
                time.sleep(0.2)
                event_record(workspace=other_ws.workspace, type="contact.updated", data={})
        finally:
            connection.close()

    thread = threading.Thread(target=other_commits)
    thread.start()
    started = time.monotonic()
    response = client_with(ws.token).get(ws.url(f"events/?after={last}&wait=2"))
    elapsed = time.monotonic() - started
    thread.join()

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert elapsed >= 1.5  # waited its full time: B's three commits did not answer it
