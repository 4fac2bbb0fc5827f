"""``GET events/?after=&wait=``: long polling, and the same visibility as the websocket."""

import threading
import time

import pytest
from django.db import connection

from crm.models import Workspace
from crm.services.events import event_record
from crm.services.workspaces import team_create
from tests.conftest import client_with

from .conftest import Inbox

pytestmark = pytest.mark.django_db(transaction=True)


def _record_later(ws, delay: float) -> threading.Thread:
    def record():
        time.sleep(delay)
        try:
            event_record(workspace=ws.workspace, type="contact.updated", data={"late": True})
        finally:
            connection.close()

    thread = threading.Thread(target=record)
    thread.start()
    return thread


def test_a_long_poll_answers_as_soon_as_an_event_commits(ws, client):
    event_record(workspace=ws.workspace, type="contact.updated", data={})
    thread = _record_later(ws, 0.5)

    started = time.monotonic()
    response = client.get(ws.url("events/?after=1&wait=30"))
    elapsed = time.monotonic() - started
    thread.join()

    assert response.status_code == 200
    assert [e["seq"] for e in response.json()["results"]] == [2]
    assert 0.4 < elapsed < 15  # far from the 30 s it could wait (loaded CI machines)


def test_a_long_poll_with_nothing_new_answers_empty_after_the_wait(ws, client):
    started = time.monotonic()
    response = client.get(ws.url("events/?after=0&wait=1"))
    assert response.json() == {"results": [], "next": None, "previous": None}
    assert 0.9 < time.monotonic() - started < 10


def test_without_wait_or_with_events_the_answer_is_immediate(ws, client):
    event_record(workspace=ws.workspace, type="contact.updated", data={})
    started = time.monotonic()
    assert len(client.get(ws.url("events/?after=0&wait=10")).json()["results"]) == 1
    assert client.get(ws.url("events/?after=1")).json()["results"] == []
    assert time.monotonic() - started < 8


def test_wait_is_validated(ws, client):
    for value in ("-1", "31", "soon"):
        response = client.get(ws.url(f"events/?after=0&wait={value}"))
        assert response.status_code == 400, value
        assert "wait" in response.json()["error"]["details"]


def test_the_event_log_hides_other_teams_conversations_from_restricted_agents(ws):
    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    _, outsider_token = ws.add_member("agent")
    insider, insider_token = ws.add_member("agent")
    support = team_create(actor=ws.owner_actor, name="Support", member_ids=[insider.pk])
    Inbox(ws).conversation(team=support)
    event_record(workspace=ws.workspace, type="contact.updated", data={})

    outsider_page = client_with(outsider_token).get(ws.url("events/?after=0")).json()
    insider_page = client_with(insider_token).get(ws.url("events/?after=0")).json()
    assert [e["type"] for e in outsider_page["results"]] == ["contact.updated"]
    assert [e["type"] for e in insider_page["results"]] == [
        "conversation.created",
        "message.created",
        "contact.updated",
    ]
    # Paging over what one may not see still moves on.
    paged = client_with(outsider_token).get(ws.url("events/?after=0&page_size=1")).json()
    assert [e["seq"] for e in paged["results"]] == [3]


def test_when_every_waiting_slot_is_taken_a_poll_answers_at_once(ws, client, monkeypatch):
    from crm.api import events

    monkeypatch.setattr(events, "_WAITING", threading.BoundedSemaphore(1))
    events._WAITING.acquire()  # another long poll holds the only slot
    try:
        started = time.monotonic()
        response = client.get(ws.url("events/?after=0&wait=20"))
        assert response.json()["results"] == []
        assert time.monotonic() - started < 8
    finally:
        events._WAITING.release()
