"""Scale-out: two ASGI server processes sharing PostgreSQL and Redis.

An event caused through one process (a REST call) reaches a websocket client of the
other; presence set on one process is shown on the other and makes a reply sent through
the first carry the collision warning.
"""

import asyncio
import json

import httpx
import pytest
from django.conf import settings

from tests.asgi_server import AsgiServer, server_database_url

from .conftest import Inbox, sync

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(db, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL): the channel layer joins the processes")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": server_database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    servers = [AsgiServer(env=env, log_dir=tmp_path) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield [server.port for server in servers]
    finally:
        for server in servers:
            server.stop()


async def _receive(websocket, predicate, wait: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        raw = await asyncio.wait_for(websocket.recv(), timeout=max(remaining, 0.01))
        message = json.loads(raw)
        if predicate(message):
            return message


async def test_an_event_caused_through_one_process_reaches_a_client_of_the_other(ws, two_servers):
    import websockets

    port_a, port_b = two_servers
    _, alice_token = await sync(ws.add_member)("agent")
    _, bob_token = await sync(ws.add_member)("agent")
    conversation = await sync(lambda: Inbox(ws).conversation())()
    url_b = f"ws://127.0.0.1:{port_b}/ws/v1/inbox/"
    url_a = f"ws://127.0.0.1:{port_a}/ws/v1/inbox/"

    def connect(url, token):
        return websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})

    async with (
        connect(url_b, ws.token) as on_b,
        connect(url_b, alice_token) as alice,
        connect(url_a, bob_token) as bob,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as http_a,
    ):
        for client in (on_b, alice, bob):
            await client.send(
                json.dumps({"type": "subscribe", "workspace": ws.slug, "after": None})
            )
            assert (await _receive(client, lambda m: m["type"] != "ping"))["type"] == "subscribed"

        # A browser's ticket issued by one process opens a socket on the other.
        ticket = (
            await http_a.post(
                f"/api/v1/workspaces/{ws.slug}/realtime/tickets/",
                headers={"Authorization": f"Bearer {ws.token}"},
            )
        ).json()["ticket"]
        async with websockets.connect(f"{url_b}?ticket={ticket}") as by_ticket:
            await by_ticket.send(json.dumps({"type": "subscribe", "workspace": ws.slug}))
            assert (await _receive(by_ticket, lambda m: m["type"] != "ping"))[
                "type"
            ] == "subscribed"

        response = await http_a.patch(
            f"/api/v1/workspaces/{ws.slug}/conversations/{conversation.pk}/",
            json={"priority": "urgent"},
            headers={"Authorization": f"Bearer {ws.token}"},
        )
        assert response.status_code == 200, response.text
        event = await _receive(on_b, lambda m: m.get("type") == "conversation.updated")
        assert event["data"]["id"] == str(conversation.pk)
        assert event["data"]["priority"] == "urgent"

        # Presence crosses processes too: Alice types on B, Bob (on A) sees it, and Bob's
        # reply through A carries the collision warning.
        await alice.send(
            json.dumps(
                {"type": "presence", "conversation": str(conversation.pk), "state": "typing"}
            )
        )
        shown = await _receive(bob, lambda m: m["type"] == "presence")
        assert shown["state"] == "typing"
        reply = await http_a.post(
            f"/api/v1/workspaces/{ws.slug}/conversations/{conversation.pk}/messages/",
            json={"text": "on it"},
            headers={"Authorization": f"Bearer {bob_token}"},
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["collision"] == {"typing": [shown["member"]]}
