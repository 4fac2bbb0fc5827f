"""Opening the inbox websocket: tickets, bearer headers, origins, and their close codes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.consumers import (
    CLOSE_TICKET_EXPIRED,
    CLOSE_TICKET_INVALID,
    CLOSE_TICKET_USED,
    CLOSE_UNAUTHENTICATED,
)
from crm.models import RealtimeTicket
from crm.services.tokens import token_hash
from tests.conftest import client_with

from .conftest import sync

pytestmark = pytest.mark.django_db(transaction=True)


def _ticket(ws, token=None) -> dict:
    response = client_with(token or ws.token).post(ws.url("realtime/tickets/"))
    assert response.status_code == 201, response.content
    return response.json()


async def test_a_ticket_is_issued_for_60_seconds_and_stored_hashed(ws):
    body = await sync(_ticket)(ws)

    assert set(body) == {"ticket", "expires_at"}
    row = await sync(RealtimeTicket.objects.get)()
    assert row.key_hash == token_hash(body["ticket"])
    assert body["ticket"] not in str(await sync(lambda: list(RealtimeTicket.objects.values()))())
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(seconds=60)


async def test_a_ticket_opens_one_connection_only(ws, ws_client):
    ticket = (await sync(_ticket)(ws))["ticket"]

    first = await ws_client(ticket=ticket)
    assert await first.connect()
    assert (await first.subscribe(ws.slug))["type"] == "subscribed"

    again = await ws_client(ticket=ticket)
    assert await again.connect()
    messages = await again.receive_until(lambda m: m["type"] == "closed")
    assert messages[0]["type"] == "error"
    assert messages[-1]["code"] == CLOSE_TICKET_USED
    await first.close()


async def test_expired_unknown_and_missing_credentials_close_with_their_codes(ws, ws_client):
    ticket = (await sync(_ticket)(ws))["ticket"]
    await sync(
        lambda: RealtimeTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    )()

    cases = [
        ({"ticket": ticket}, CLOSE_TICKET_EXPIRED),
        ({"ticket": "rt_not-a-real-ticket"}, CLOSE_TICKET_INVALID),
        ({"ticket": "garbage"}, CLOSE_TICKET_INVALID),
        ({}, CLOSE_UNAUTHENTICATED),
        ({"token": "ck_000000000000_nope"}, CLOSE_UNAUTHENTICATED),
    ]
    for kwargs, code in cases:
        client = await ws_client(**kwargs)
        assert await client.connect()
        messages = await client.receive_until(lambda m: m["type"] == "closed")
        assert messages[-1]["code"] == code, kwargs


async def test_the_authorization_header_works_for_keys_and_personal_tokens(ws, ws_client):
    _, agent_token = await sync(ws.add_member)("agent")
    for token in (ws.token, agent_token):
        client = await ws_client(token=token)
        assert await client.connect()
        reply = await client.subscribe(ws.slug)
        assert reply["type"] == "subscribed"
        await client.close()


async def test_a_ticket_or_token_reaches_its_own_workspace_only(ws, other_ws, ws_client):
    ticket = (await sync(_ticket)(ws))["ticket"]
    client = await ws_client(ticket=ticket)
    assert await client.connect()
    reply = await client.subscribe(other_ws.slug)
    assert reply["type"] == "error"
    assert reply["code"] == "not_found"

    by_header = await ws_client(token=ws.token)
    assert await by_header.connect()
    assert (await by_header.subscribe(other_ws.slug))["code"] == "not_found"
    await client.close()
    await by_header.close()


async def test_a_member_ticket_acts_as_the_member(ws, ws_client):
    member, token = await sync(ws.add_member)("agent")
    ticket = (await sync(_ticket)(ws, token))["ticket"]
    client = await ws_client(ticket=ticket)
    assert await client.connect()
    reply = await client.subscribe(ws.slug)
    assert reply["member"] == str(member.pk)
    await client.close()


async def test_origins_are_checked_against_allowed_hosts(ws, ws_client):
    from config.asgi import application

    foreign = await ws_client(
        token=ws.token, headers=[(b"origin", b"https://evil.example")], app=application
    )
    assert not await foreign.connect()

    own = await ws_client(
        token=ws.token, headers=[(b"origin", b"http://localhost:8000")], app=application
    )
    assert await own.connect()
    assert (await own.subscribe(ws.slug))["type"] == "subscribed"
    await own.close()

    # No Origin at all: not a browser (a server or an app with its Authorization header).
    headless = await ws_client(token=ws.token, app=application)
    assert await headless.connect()
    assert (await headless.subscribe(ws.slug))["type"] == "subscribed"
    await headless.close()
