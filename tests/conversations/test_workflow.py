"""Conversation workflow through the API: status, priority, assignee, team, labels, snooze."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from conversations.services.conversations import conversations_wake_due
from conversations.tasks import wake_snoozed_conversations_task
from crm.models import Event
from crm.services.workspaces import team_create
from tests.conftest import client_with


def _last_event(workspace):
    return Event.objects.filter(workspace=workspace).order_by("-seq").first()


def test_retrieve_shows_the_contract_fields(ws, client, inbox):
    conversation = inbox.conversation(platform="instagram")

    body = client.get(ws.url(f"conversations/{conversation.pk}/")).json()

    for field in [
        "id",
        "brand_account",
        "platform",
        "kind",
        "contact",
        "status",
        "priority",
        "assignee",
        "team",
        "labels",
        "snoozed_until",
        "last_message_at",
        "first_response_at",
        "reply_window",
        "created_at",
        "updated_at",
    ]:
        assert field in body
    assert body["platform"] == "instagram"
    assert body["reply_window"]["open"] is True
    assert body["reply_window"]["reason"] == "standard_window"


def test_update_changes_the_workflow_and_records_conversation_updated(ws, client, inbox):
    conversation = inbox.conversation()
    agent, _ = ws.add_member("agent")
    team = team_create(actor=ws.owner_actor, name="Support")
    label = client.post(ws.url("labels/"), {"name": "billing"}, format="json").json()

    response = client.patch(
        ws.url(f"conversations/{conversation.pk}/"),
        {
            "status": "pending",
            "priority": "high",
            "assignee": str(agent.pk),
            "team": str(team.pk),
            "labels": [label["id"]],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["priority"] == "high"
    assert body["assignee"] == str(agent.pk)
    assert body["team"] == str(team.pk)
    assert body["labels"] == [label["id"]]
    event = _last_event(ws.workspace)
    assert event.type == "conversation.updated"
    assert event.data == body | {"reply_window": event.data["reply_window"]}


def test_an_update_that_changes_nothing_records_nothing(ws, client, inbox):
    conversation = inbox.conversation()
    before = _last_event(ws.workspace).seq

    response = client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"status": "open"}, format="json"
    )

    assert response.status_code == 200
    assert _last_event(ws.workspace).seq == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"priority": "asap"}, "priority"),
        ({"status": "snoozed"}, "snoozed_until"),
        ({"snoozed_until": "2000-01-01T00:00:00Z"}, "snoozed_until"),
        ({"labels": ["00000000-0000-0000-0000-000000000000"]}, "labels"),
        ({"team": "00000000-0000-0000-0000-000000000000"}, "team"),
    ],
    ids=[
        "status_case",
        "priority_case",
        "snooze_without_time_case",
        "past_snooze_case",
        "unknown_label_case",
        "unknown_team_case",
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(ws, client, inbox, body, field):
    conversation = inbox.conversation()

    response = client.patch(ws.url(f"conversations/{conversation.pk}/"), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority) == ("open", "none")


def test_sales_and_viewers_cannot_be_assigned(ws, client, inbox):
    conversation = inbox.conversation()
    sales, _ = ws.add_member("sales")

    response = client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"assignee": str(sales.pk)}, format="json"
    )

    assert response.status_code == 400
    assert "assignee" in response.json()["error"]["details"]


@pytest.mark.parametrize("role", ["sales", "viewer"])
def test_sales_and_viewers_read_but_do_not_change_conversations(ws, inbox, role):
    conversation = inbox.conversation()
    _, token = ws.add_member(role)
    client = client_with(token)

    assert client.get(ws.url(f"conversations/{conversation.pk}/")).status_code == 200
    response = client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"status": "resolved"}, format="json"
    )
    assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_snooze_then_beat_wakes_the_due_ones_only(ws, client, inbox):
    due = inbox.conversation()
    later = inbox.conversation()
    soon = timezone.now() + timedelta(minutes=5)
    for conversation, until in ((due, soon), (later, soon + timedelta(days=1))):
        response = client.patch(
            ws.url(f"conversations/{conversation.pk}/"),
            {"snoozed_until": until.isoformat()},
            format="json",
        )
        assert response.json()["status"] == "snoozed"

    woken = conversations_wake_due(now=soon + timedelta(seconds=1))

    assert woken == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.snoozed_until) == ("open", None)
    assert later.status == "snoozed"
    assert _last_event(ws.workspace).data["id"] == str(due.pk)
    # Nothing else is due now: the beat task is a no-op.
    assert wake_snoozed_conversations_task() == 0


def test_the_beat_schedule_runs_the_wake_task():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "conversations.wake_snoozed_conversations" in tasks


def test_clearing_snoozed_until_wakes_and_other_statuses_clear_it(ws, client, inbox):
    conversation = inbox.conversation()
    url = ws.url(f"conversations/{conversation.pk}/")
    until = (timezone.now() + timedelta(hours=1)).isoformat()

    client.patch(url, {"snoozed_until": until}, format="json")
    assert client.patch(url, {"snoozed_until": None}, format="json").json()["status"] == "open"
    client.patch(url, {"snoozed_until": until}, format="json")
    body = client.patch(url, {"status": "resolved"}, format="json").json()
    assert (body["status"], body["snoozed_until"]) == ("resolved", None)


def test_bulk_applies_one_change_to_many_in_one_batch_of_events(ws, client, inbox):
    conversations = [inbox.conversation() for _ in range(3)]
    before = _last_event(ws.workspace).seq
    label = client.post(ws.url("labels/"), {"name": "vip"}, format="json").json()

    response = client.post(
        ws.url("conversations/bulk/"),
        {
            "ids": [str(c.pk) for c in conversations],
            "changes": {"status": "resolved", "add_labels": [label["id"]]},
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["updated"] == 3
    assert set(Conversation.objects.values_list("status", flat=True)) == {"resolved"}
    assert all(c.labels.count() == 1 for c in Conversation.objects.all())
    events = Event.objects.filter(workspace=ws.workspace, seq__gt=before)
    assert sorted(e.data["id"] for e in events) == sorted(str(c.pk) for c in conversations)


def test_bulk_with_an_unknown_id_changes_nothing(ws, other_ws, client, inbox):
    mine = inbox.conversation()
    from tests.conversations.conftest import Inbox

    theirs = Inbox(other_ws).conversation()

    response = client.post(
        ws.url("conversations/bulk/"),
        {"ids": [str(mine.pk), str(theirs.pk)], "changes": {"status": "resolved"}},
        format="json",
    )

    assert response.status_code == 404
    assert response.json()["error"]["details"]["ids"] == [str(theirs.pk)]
    mine.refresh_from_db()
    assert mine.status == "open"


def test_bulk_needs_a_change(ws, client, inbox):
    conversation = inbox.conversation()

    response = client.post(
        ws.url("conversations/bulk/"),
        {"ids": [str(conversation.pk)], "changes": {}},
        format="json",
    )

    assert response.status_code == 400


def test_mark_read_resets_the_unread_count(ws, client, inbox):
    conversation = inbox.conversation()
    inbox.inbound(thread=conversation.thread_key, contact=conversation.contact)

    body = client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"read": True}, format="json"
    ).json()

    assert body["unread_count"] == 0
