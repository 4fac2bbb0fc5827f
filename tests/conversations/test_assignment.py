"""Automatic assignment: round robin per team, available members only, a cap per agent."""

import threading
from collections import Counter

import pytest
from django.db import connection

from contacts.models import Contact
from conversations.models import Conversation
from conversations.services.conversations import ConversationChanges, conversation_update
from conversations.services.messages import message_ingest_inbound
from crm.models import Event, Membership, Team
from crm.services.workspaces import team_create
from tests.conversations.conftest import Inbox


def _team(ws, *, agents=3, cap=None, auto=True):
    members = [ws.add_member("agent")[0] for _ in range(agents)]
    team = team_create(actor=ws.owner_actor, name="Support", member_ids=[m.pk for m in members])
    Team.objects.filter(pk=team.pk).update(auto_assign=auto, max_open_per_agent=cap)
    team.refresh_from_db()
    return team, members


def _assignees(team):
    return Counter(Conversation.objects.filter(team=team).values_list("assignee_id", flat=True))


def test_new_conversations_go_round_robin(ws, inbox):
    team, members = _team(ws, agents=3)

    order = [inbox.conversation(team=team).assignee_id for _ in range(6)]

    ids = [m.pk for m in members]
    assert order == ids + ids


def test_unavailable_members_are_skipped(ws, inbox):
    team, members = _team(ws, agents=3)
    Membership.objects.filter(pk=members[1].pk).update(is_available=False)

    order = [inbox.conversation(team=team).assignee_id for _ in range(4)]

    assert order == [members[0].pk, members[2].pk, members[0].pk, members[2].pk]


def test_the_cap_leaves_the_overflow_unassigned_until_someone_frees_up(ws, inbox):
    team, members = _team(ws, agents=2, cap=1)

    conversations = [inbox.conversation(team=team) for _ in range(3)]

    assert [c.assignee_id for c in conversations] == [members[0].pk, members[1].pk, None]
    # Resolving frees a place: the queued conversation gets it at once, with its event.
    conversation_update(
        actor=ws.owner_actor,
        conversation=conversations[0],
        changes=ConversationChanges(status="resolved"),
    )
    conversations[2].refresh_from_db()
    assert conversations[2].assignee_id == members[0].pk
    last = Event.objects.filter(workspace=ws.workspace).order_by("-seq").first()
    assert (last.type, last.data["id"]) == ("conversation.updated", str(conversations[2].pk))
    # Everyone is full again: the next arrival waits.
    assert inbox.conversation(team=team).assignee_id is None


def test_routing_to_a_team_assigns_and_manual_assignment_wins(ws, inbox):
    team, members = _team(ws, agents=2)
    unrouted = inbox.conversation()
    named = inbox.conversation()

    conversation_update(
        actor=ws.owner_actor, conversation=unrouted, changes=ConversationChanges(team=team)
    )
    conversation_update(
        actor=ws.owner_actor,
        conversation=named,
        changes=ConversationChanges(team=team, assignee=members[1]),
    )

    unrouted.refresh_from_db()
    named.refresh_from_db()
    assert unrouted.assignee_id == members[0].pk
    assert named.assignee_id == members[1].pk


def test_teams_without_auto_assignment_leave_conversations_unassigned(ws, inbox):
    team, _ = _team(ws, agents=2, auto=False)

    assert inbox.conversation(team=team).assignee_id is None


def _arrive_concurrently(ws, team, count):
    inbox = Inbox(ws)
    account = inbox.account("whatsapp")
    contacts = [Contact.objects.create(workspace=ws.workspace, name=f"c{i}") for i in range(count)]
    errors: list[str] = []
    barrier = threading.Barrier(count)

    def arrive(i):
        try:
            barrier.wait()
            message_ingest_inbound(
                brand_account=account,
                thread_key=f"{account.external_id}:{i}",
                contact=contacts[i],
                external_id=f"wamid.{i}",
                text="hello",
                team=team,
            )
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_arrivals_never_exceed_the_cap(make_workspace):
    ws = make_workspace("cap")
    team, members = _team(ws, agents=4, cap=3)

    _arrive_concurrently(ws, team, 20)

    counts = _assignees(team)
    assert counts[None] == 8
    assert {counts[m.pk] for m in members} == {3}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_arrivals_are_shared_fairly(make_workspace):
    ws = make_workspace("fair")
    team, members = _team(ws, agents=4)

    _arrive_concurrently(ws, team, 20)

    counts = _assignees(team)
    assert counts[None] == 0
    assert {counts[m.pk] for m in members} == {5}


def test_beat_hands_the_queue_to_a_member_back_from_a_break(ws, inbox):
    from conversations.tasks import assign_queued_conversations_task

    team, members = _team(ws, agents=1)
    Membership.objects.filter(pk=members[0].pk).update(is_available=False)
    queued = [inbox.conversation(team=team) for _ in range(2)]
    assert all(c.assignee_id is None for c in queued)
    assert assign_queued_conversations_task() == 0

    Membership.objects.filter(pk=members[0].pk).update(is_available=True)

    assert assign_queued_conversations_task() == 2
    assert _assignees(team) == {members[0].pk: 2}
    last = Event.objects.filter(workspace=ws.workspace).order_by("-seq").first()
    assert last.data["assignee"] == str(members[0].pk)


def test_the_beat_schedule_assigns_queued_conversations():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "conversations.assign_queued_conversations" in tasks
