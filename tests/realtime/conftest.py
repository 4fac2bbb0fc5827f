"""Realtime inbox fixtures: fresh channel layers, fast timings, websocket clients."""

import asyncio
import contextlib
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from config.routing import websocket_urlpatterns
from conversations.presence import presence_reset
from tests.conversations.conftest import Inbox

INBOX_PATH = "/ws/v1/inbox/"


@pytest.fixture(autouse=True)
async def fresh_layers(settings):
    """A new channel layer per test (each test has its own event loop) and no presence.

    Presence is in the cache, not the database: reset without touching database
    connections, which a test without database access may not do."""
    settings.CAUSERIE_REALTIME_GAP_WAIT = 0.2
    channel_layers.backends = {}
    await sync_to_async(presence_reset)()
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        with contextlib.suppress(NotImplementedError):
            await layer.flush()
    channel_layers.backends = {}
    await sync_to_async(presence_reset)()


@pytest.fixture
def inbox(ws) -> Inbox:
    return Inbox(ws)


class Client:
    """A websocket client of the inbox, with helpers for the protocol."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.close_code: int | None = None

    async def connect(self) -> bool:
        connected, _ = await self.communicator.connect()
        return connected

    async def send(self, message: dict) -> None:
        await self.communicator.send_json_to(message)

    async def receive(self, wait: float = 10.0) -> dict:
        """The next JSON message; a close becomes ``{"type": "closed", "code": ...}``."""
        output = await self.communicator.receive_output(wait)
        if output["type"] == "websocket.close":
            self.close_code = output.get("code")
            return {"type": "closed", "code": output.get("code")}
        return json.loads(output["text"])

    async def receive_until(self, predicate, wait: float = 10.0) -> list[dict]:
        """Messages up to and including the first that matches ``predicate``."""
        seen = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            message = await self.receive(wait=max(0.01, deadline - loop.time()))
            seen.append(message)
            if predicate(message):
                return seen

    async def events(self, count: int, wait: float = 10.0) -> list[dict]:
        """The next ``count`` event envelopes (pings and presence skipped)."""
        found = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(found) < count:
            message = await self.receive(wait=max(0.01, deadline - loop.time()))
            assert message["type"] != "closed", message
            if "seq" in message:
                found.append(message)
        return found

    async def nothing(self, wait: float = 0.3, allow=("ping",)) -> None:
        """Assert that nothing but ``allow``ed types arrives within ``wait``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if await self.communicator.receive_nothing(timeout=remaining):
                return
            message = await self.receive()
            assert message["type"] in allow, message

    async def subscribe(self, slug: str, after=None) -> dict:
        await self.send({"type": "subscribe", "workspace": slug, "after": after})
        return await self.receive()

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
def ws_client():
    """Open clients with ``await ws_client(token=..., ticket=..., headers=...)``."""
    opened: list[Client] = []

    async def make(*, token=None, ticket=None, headers=None, app=None) -> Client:
        path = INBOX_PATH + (f"?ticket={ticket}" if ticket else "")
        all_headers = list(headers or [])
        if token:
            all_headers.append((b"authorization", f"Bearer {token}".encode()))
        communicator = WebsocketCommunicator(
            app or URLRouter(websocket_urlpatterns), path, headers=all_headers
        )
        client = Client(communicator)
        opened.append(client)
        return client

    # Communicators are closed by the tests; stray ones end with the test's event loop.
    return make


async def subscribed(ws_client, token: str, slug: str, after=None) -> Client:
    """A connected client subscribed to ``slug``, its ``subscribed`` reply checked."""
    client = await ws_client(token=token)
    assert await client.connect()
    reply = await client.subscribe(slug, after)
    assert reply["type"] == "subscribed", reply
    return client


def sync(function):
    """Run a sync (ORM) helper from an async test."""
    return database_sync_to_async(function)
