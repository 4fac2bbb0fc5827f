"""Every event reaches a connection only if its member may see it through the REST API."""

import pytest

from conversations.services.conversations import ConversationChanges, conversation_update
from conversations.services.messages import message_send
from crm.models import Event, Workspace
from crm.scopes import CONTACTS_READ
from crm.services.events import event_record
from crm.services.workspaces import api_key_create, team_create

from .conftest import Inbox, subscribed, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _restricted_setup(ws):
    """Agents see only their teams; Support has ``insider``, ``outsider`` is in no team."""
    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    insider, insider_token = ws.add_member("agent")
    outsider, outsider_token = ws.add_member("agent")
    support = team_create(actor=ws.owner_actor, name="Support", member_ids=[insider.pk])
    ws.outsider = outsider
    return support, insider_token, outsider_token


def _team_traffic(ws, team):
    """A conversation of the team, with an inbound message, a reply, a note and an update."""
    inbox = Inbox(ws)
    conversation = inbox.conversation(team=team, text="hello team")
    message_send(actor=ws.owner_actor, conversation=conversation, text="a reply")
    message_send(actor=ws.owner_actor, conversation=conversation, text="a note", private=True)
    conversation_update(
        actor=ws.owner_actor,
        conversation=conversation,
        changes=ConversationChanges(priority="high"),
    )
    return conversation


async def test_an_agent_outside_a_team_receives_none_of_its_conversations(ws, ws_client):
    support, insider_token, outsider_token = await sync(_restricted_setup)(ws)
    await sync(_team_traffic)(ws, support)  # before subscribing: replayed from the log
    insider = await subscribed(ws_client, insider_token, ws.slug, after=0)
    outsider = await subscribed(ws_client, outsider_token, ws.slug, after=0)

    conversation = await sync(_team_traffic)(ws, support)  # and live
    marker = await sync(event_record)(
        workspace=ws.workspace, type="contact.updated", data={"id": "x"}
    )

    is_marker = lambda m: m.get("seq") == marker.seq  # noqa: E731
    insider_events = [m for m in await insider.receive_until(is_marker) if "seq" in m]
    outsider_events = [m for m in await outsider.receive_until(is_marker) if "seq" in m]
    every_seq = await sync(
        lambda: list(Event.objects.filter(workspace=ws.workspace).values_list("seq", flat=True))
    )()
    # The team's agent gets everything; the outsider only the contact event: not one event
    # of the team's conversations, live or replayed.
    assert sorted(every_seq) == [e["seq"] for e in insider_events]
    assert [e["type"] for e in outsider_events] == ["contact.updated"]
    assert str(conversation.pk) in {
        e["data"].get("conversation", e["data"].get("id")) for e in insider_events
    }
    await outsider.nothing()
    for client in (insider, outsider):
        await client.close()


async def test_assigning_a_conversation_to_an_outsider_shows_it_from_then_on(ws, ws_client):
    support, _, outsider_token = await sync(_restricted_setup)(ws)
    conversation = await sync(lambda: Inbox(ws).conversation(team=support))()
    outsider = await subscribed(ws_client, outsider_token, ws.slug, after=None)
    member = ws.outsider
    await sync(conversation_update)(
        actor=ws.owner_actor,
        conversation=conversation,
        changes=ConversationChanges(assignee=member),
    )
    (event,) = await outsider.events(1)
    assert event["type"] == "conversation.updated"
    assert event["data"]["assignee"] == str(member.pk)
    await outsider.close()


async def test_private_notes_reach_members_only(ws, ws_client):
    conversation = await sync(lambda: Inbox(ws).conversation())()
    _, agent_token = await sync(ws.add_member)("agent")
    key_client = await subscribed(ws_client, ws.token, ws.slug)
    member_client = await subscribed(ws_client, agent_token, ws.slug)

    await sync(message_send)(
        actor=ws.owner_actor, conversation=conversation, text="internal", private=True
    )

    member_events = await member_client.events(2)
    assert [e["type"] for e in member_events] == ["conversation.updated", "message.created"]
    assert member_events[1]["data"]["private"] is True
    key_events = await key_client.events(1)
    assert [e["type"] for e in key_events] == ["conversation.updated"]
    await key_client.nothing()
    await key_client.close()
    await member_client.close()


async def test_event_types_follow_the_credential_scopes(ws, ws_client):
    created = await sync(api_key_create)(
        actor=ws.owner_actor, name="crm", key_scopes=[CONTACTS_READ], expires_at=None
    )
    await sync(lambda: Inbox(ws).conversation())()
    await sync(event_record)(workspace=ws.workspace, type="contact.updated", data={"id": "x"})

    client = await subscribed(ws_client, created.token, ws.slug, after=0)
    events = await client.events(1)
    assert [e["type"] for e in events] == ["contact.updated"]
    await client.nothing()
    await client.close()


async def test_sales_and_viewers_read_conversation_events(ws, ws_client):
    _, viewer_token = await sync(ws.add_member)("viewer")
    client = await subscribed(ws_client, viewer_token, ws.slug)
    await sync(lambda: Inbox(ws).conversation())()
    events = await client.events(2)
    assert {e["type"] for e in events} == {"conversation.created", "message.created"}
    await client.close()
