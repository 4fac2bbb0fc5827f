"""Team visibility: agents of a restricted workspace see their teams' conversations only."""

import pytest

from conversations.selectors import event_visible_to
from conversations.services.conversations import ConversationChanges, conversation_update
from crm.actors import Actor
from crm.models import Event, Team, Workspace
from crm.services.workspaces import team_create
from tests.conftest import client_with


@pytest.fixture
def setup(ws, inbox):
    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    agent, token = ws.add_member("agent")
    mine = team_create(actor=ws.owner_actor, name="Mine", member_ids=[agent.pk])
    theirs = team_create(actor=ws.owner_actor, name="Theirs")
    conversations = {
        "team_unassigned": inbox.conversation(text="alpha one"),
        "other_team": inbox.conversation(text="alpha two"),
        "no_team_assigned_to_me": inbox.conversation(text="alpha three"),
        "no_team": inbox.conversation(text="alpha four"),
    }
    for key, changes in {
        "team_unassigned": ConversationChanges(team=mine),
        "other_team": ConversationChanges(team=theirs),
        "no_team_assigned_to_me": ConversationChanges(assignee=agent),
    }.items():
        conversation_update(actor=ws.owner_actor, conversation=conversations[key], changes=changes)
    return agent, client_with(token), conversations


VISIBLE = {"team_unassigned", "no_team_assigned_to_me"}


def test_lists_and_search_show_only_the_agents_teams_and_own(ws, setup):
    _, client, conversations = setup
    expected = sorted(str(conversations[k].pk) for k in VISIBLE)

    for query in ("", "?q=alpha", "?status=open"):
        rows = client.get(ws.url(f"conversations/{query}")).json()["results"]
        assert sorted(r["id"] for r in rows) == expected, query


def test_details_and_timelines_of_other_teams_are_not_found(ws, setup):
    _, client, conversations = setup

    for key, conversation in conversations.items():
        for path in ("", "messages/"):
            response = client.get(ws.url(f"conversations/{conversation.pk}/{path}"))
            assert response.status_code == (200 if key in VISIBLE else 404), (key, path)
        reply = client.post(
            ws.url(f"conversations/{conversation.pk}/messages/"), {"text": "hi"}, format="json"
        )
        assert reply.status_code == (202 if key in VISIBLE else 404), key


def test_admins_and_unrestricted_workspaces_see_everything(ws, client, setup):
    _, agent_client, _conversations = setup
    assert len(client.get(ws.url("conversations/")).json()["results"]) == 4

    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=False)
    assert len(agent_client.get(ws.url("conversations/")).json()["results"]) == 4


def test_events_are_filtered_with_the_same_rule(ws, setup):
    agent, _, conversations = setup
    actor = Actor.for_member(
        type(agent).objects.select_related("workspace", "user").get(pk=agent.pk)
    )

    for key, conversation in conversations.items():
        event = (
            Event.objects.filter(workspace=ws.workspace, type="message.created")
            .filter(data__conversation=str(conversation.pk))
            .get()
        )
        assert event_visible_to(actor, event.type, event.data) == (key in VISIBLE), key
    assert event_visible_to(actor, "contact.updated", {"id": "x"})


def test_bulk_cannot_reach_hidden_conversations(ws, setup):
    _, client, conversations = setup

    response = client.post(
        ws.url("conversations/bulk/"),
        {"ids": [str(conversations["other_team"].pk)], "changes": {"status": "resolved"}},
        format="json",
    )

    assert response.status_code == 404


def test_an_agent_handing_a_conversation_to_another_team_sees_the_result(ws, setup):
    _, client, conversations = setup
    conversation = conversations["team_unassigned"]
    other_team = Team.objects.get(workspace=ws.workspace, name="Theirs")

    response = client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"team": str(other_team.pk)}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["team"] == str(other_team.pk)
    assert client.get(ws.url(f"conversations/{conversation.pk}/")).status_code == 404


def test_turning_the_restriction_on_applies_at_once_to_an_agent_already_signed_in(
    ws, inbox, client
):
    # The agent's actor (with its workspace's settings) is remembered per process for a
    # few seconds (crm.process_cache): the settings change still applies at once.
    inbox.conversation(text="nobody's team")
    _, token = ws.add_member("agent")
    agent = client_with(token)
    assert len(agent.get(ws.url("conversations/")).json()["results"]) == 1

    changed = client.patch(ws.url("inbox-settings/"), {"agents_see_only_their_teams": True})
    assert changed.status_code == 200

    assert agent.get(ws.url("conversations/")).json()["results"] == []
