"""Presence (viewing, typing), the collision warning on replies, and the assignee lock."""

import asyncio

import pytest

from conversations import presence
from crm.models import Workspace
from crm.services.workspaces import team_create
from tests.conftest import client_with

from .conftest import Inbox, subscribed, sync

pytestmark = pytest.mark.django_db(transaction=True)


def _people(ws):
    """Two agents of a Support team, an outsider agent (restricted), a conversation of the team."""
    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    alice, alice_token = ws.add_member("agent")
    bob, bob_token = ws.add_member("agent")
    carol, carol_token = ws.add_member("agent")
    support = team_create(actor=ws.owner_actor, name="Support", member_ids=[alice.pk, bob.pk])
    conversation = Inbox(ws).conversation(team=support)
    return {
        "alice": (alice, alice_token),
        "bob": (bob, bob_token),
        "carol": (carol, carol_token),
        "conversation": conversation,
    }


def _is_presence(message):
    return message["type"] == "presence"


async def test_typing_is_shown_to_members_who_see_the_conversation_and_cleared_on_disconnect(
    ws, ws_client
):
    people = await sync(_people)(ws)
    conversation_id = str(people["conversation"].pk)
    alice = await subscribed(ws_client, people["alice"][1], ws.slug)
    bob = await subscribed(ws_client, people["bob"][1], ws.slug)
    carol = await subscribed(ws_client, people["carol"][1], ws.slug)

    await alice.send({"type": "presence", "conversation": conversation_id, "state": "typing"})
    shown = (await bob.receive_until(_is_presence))[-1]
    assert shown["conversation"] == conversation_id
    assert shown["member"] == str(people["alice"][0].pk)
    assert shown["state"] == "typing"
    assert shown["expires_at"]
    await carol.nothing()  # not in the team: never learns of the conversation
    await alice.nothing()  # not echoed to oneself

    # Bob starts viewing: he is told who is already there.
    await bob.send({"type": "presence", "conversation": conversation_id, "state": "viewing"})
    current = (await bob.receive_until(_is_presence))[-1]
    assert (current["member"], current["state"]) == (str(people["alice"][0].pk), "typing")
    seen = (await alice.receive_until(_is_presence))[-1]
    assert (seen["member"], seen["state"]) == (str(people["bob"][0].pk), "viewing")

    await alice.close()
    gone = (await bob.receive_until(_is_presence))[-1]
    assert (gone["member"], gone["state"]) == (str(people["alice"][0].pk), "idle")
    assert await sync(presence.members_typing)(conversation_id=conversation_id) == []
    await bob.close()
    await carol.close()


async def test_presence_in_a_conversation_one_may_not_see_is_refused(ws, ws_client):
    people = await sync(_people)(ws)
    carol = await subscribed(ws_client, people["carol"][1], ws.slug)
    await carol.send(
        {"type": "presence", "conversation": str(people["conversation"].pk), "state": "typing"}
    )
    reply = await carol.receive()
    assert reply["code"] == "not_found"
    await carol.send({"type": "presence", "conversation": "x", "state": "dancing"})
    assert (await carol.receive())["code"] == "validation_error"
    await carol.close()


async def test_presence_lapses_when_not_refreshed(ws, settings):
    settings.CAUSERIE_REALTIME_PRESENCE_TTL = 0.2
    await sync(presence.presence_set)(
        conversation_id="c1", connection="conn-1", member_id="m1", state="typing"
    )
    assert await sync(presence.members_typing)(conversation_id="c1") == ["m1"]
    await asyncio.sleep(0.3)
    assert await sync(presence.members_typing)(conversation_id="c1") == []


async def test_a_silent_client_loses_its_presence(ws, ws_client, settings):
    settings.CAUSERIE_REALTIME_HEARTBEAT_INTERVAL = 0.1
    settings.CAUSERIE_REALTIME_HEARTBEAT_TIMEOUT = 0.3
    people = await sync(_people)(ws)
    conversation_id = str(people["conversation"].pk)
    alice = await subscribed(ws_client, people["alice"][1], ws.slug)
    await alice.send({"type": "presence", "conversation": conversation_id, "state": "typing"})
    for _ in range(100):
        if await sync(presence.members_typing)(conversation_id=conversation_id):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the typing presence was never stored")

    closed = (await alice.receive_until(lambda m: m["type"] == "closed", wait=10))[-1]
    assert closed["code"] == 4008
    await alice.close()  # the server's disconnect runs: presence is withdrawn
    assert await sync(presence.members_typing)(conversation_id=conversation_id) == []


async def test_a_reply_while_another_member_types_carries_a_collision_warning(ws, ws_client):
    people = await sync(_people)(ws)
    conversation = people["conversation"]
    alice_id = str(people["alice"][0].pk)
    alice = await subscribed(ws_client, people["alice"][1], ws.slug)
    bob = await subscribed(ws_client, people["bob"][1], ws.slug)
    await alice.send({"type": "presence", "conversation": str(conversation.pk), "state": "typing"})
    await bob.receive_until(_is_presence)

    def reply(token, text, private=False):
        return client_with(token).post(
            ws.url(f"conversations/{conversation.pk}/messages/"),
            {"text": text, "private": private},
            format="json",
        )

    response = await sync(reply)(people["bob"][1], "I've got this")
    assert response.status_code == 202
    assert response.json()["collision"] == {"typing": [alice_id]}
    created = [e for e in await bob.events(2) if e["type"] == "message.created"]
    assert created[0]["data"]["collision"] == {"typing": [alice_id]}

    # Alice's own reply, or a private note, is no collision.
    mine = await sync(reply)(people["alice"][1], "me too")
    assert "collision" not in mine.json()
    note = await sync(reply)(people["bob"][1], "note", True)
    assert "collision" not in note.json()
    await alice.close()
    await bob.close()


async def test_the_assignee_lock_refuses_replies_of_others(ws):
    people = await sync(_people)(ws)
    conversation = people["conversation"]
    alice, alice_token = people["alice"]
    _, bob_token = people["bob"]

    def setup():
        settings = client_with(ws.token).patch(
            ws.url("inbox-settings/"), {"replies_require_assignee": True}, format="json"
        )
        assert settings.json()["replies_require_assignee"] is True
        client_with(ws.token).patch(
            ws.url(f"conversations/{conversation.pk}/"), {"assignee": str(alice.pk)}, format="json"
        )

    await sync(setup)()

    def post(token, private=False):
        return client_with(token).post(
            ws.url(f"conversations/{conversation.pk}/messages/"),
            {"text": "hello", "private": private},
            format="json",
        )

    refused = await sync(post)(bob_token)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "assignee_lock"
    assert refused.json()["error"]["details"] == {"assignee": str(alice.pk)}
    assert (await sync(post)(bob_token, True)).status_code == 201  # notes stay open
    assert (await sync(post)(alice_token)).status_code == 202
