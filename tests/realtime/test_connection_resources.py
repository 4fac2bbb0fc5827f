"""What an open connection holds on to while it waits for events."""

import gc

import pytest
import redis
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.routing import websocket_urlpatterns

from .conftest import INBOX_PATH, Client

pytestmark = pytest.mark.django_db(transaction=True)


def _cache_clients(server: redis.Redis) -> int:
    """Redis clients of the test database whose last command was a cache read."""
    gc.collect()  # what was let go is closed once collected
    database = server.connection_pool.connection_kwargs.get("db", 0)
    return sum(1 for c in server.client_list() if int(c["db"]) == database and c["cmd"] == "get")


async def test_open_connections_keep_no_cache_client_of_their_own(ws):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL): the local-memory cache opens no connections")
    server = redis.Redis.from_url(settings.REDIS_URL)
    before = _cache_clients(server)
    clients = []
    for n in range(5):
        communicator = WebsocketCommunicator(
            URLRouter(websocket_urlpatterns),
            INBOX_PATH,
            headers=[(b"authorization", f"Bearer {ws.token}".encode())],
        )
        # An address, so that authenticating reads its failure count from the cache.
        communicator.scope["client"] = (f"203.0.113.{n + 1}", 50000)
        client = Client(communicator)
        assert await client.connect()
        assert (await client.subscribe(ws.slug))["type"] == "subscribed"
        clients.append(client)

    held = _cache_clients(server) - before

    for client in clients:
        await client.close()
    server.close()
    assert held <= 1  # the process's own, not one per connection
