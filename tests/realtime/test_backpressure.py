"""A slow client never delays others; heartbeats find dead connections."""

import asyncio

import pytest
from channels.routing import URLRouter
from django.urls import path
from django.utils import timezone

from conversations.consumers import CLOSE_HEARTBEAT_TIMEOUT, CLOSE_RESYNC, InboxConsumer
from crm.models import ApiKey, Membership
from crm.services.events import event_record
from crm.services.workspaces import api_key_create

from .conftest import subscribed, sync

pytestmark = pytest.mark.django_db(transaction=True)


class StuckConsumer(InboxConsumer):
    """A connection whose client stopped reading: writing an event never completes."""

    async def send(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None and '"seq"' in text_data:
            await asyncio.sleep(3600)
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)


STUCK_APP = URLRouter([path("ws/v1/inbox/", StuckConsumer.as_asgi())])


def _record(ws, count):
    for i in range(count):
        event_record(workspace=ws.workspace, type="contact.updated", data={"n": i})


async def test_a_stuck_client_overflows_and_is_closed_with_resync_others_unaffected(
    ws, ws_client, settings
):
    settings.CAUSERIE_REALTIME_QUEUE_SIZE = 5
    stuck = await ws_client(token=ws.token, app=STUCK_APP)
    assert await stuck.connect()
    assert (await stuck.subscribe(ws.slug))["type"] == "subscribed"
    healthy = await ws_client(token=ws.token)
    assert await healthy.connect()
    assert (await healthy.subscribe(ws.slug))["type"] == "subscribed"

    loop = asyncio.get_running_loop()
    started = loop.time()
    await sync(_record)(ws, 20)

    got = await healthy.events(20, wait=15)
    assert [e["seq"] for e in got] == list(range(1, 21))
    assert loop.time() - started < 15  # the stuck client would hold it for an hour
    closed = (await stuck.receive_until(lambda m: m["type"] == "closed", wait=10))[-1]
    assert closed["code"] == CLOSE_RESYNC
    await stuck.close()
    await healthy.close()


async def test_the_server_pings_and_a_client_answering_pongs_stays(ws, ws_client, settings):
    settings.CAUSERIE_REALTIME_HEARTBEAT_INTERVAL = 0.1
    settings.CAUSERIE_REALTIME_HEARTBEAT_TIMEOUT = 1.0
    client = await ws_client(token=ws.token)
    assert await client.connect()
    loop = asyncio.get_running_loop()
    until = loop.time() + 2.0  # twice the timeout: only the pongs keep it open
    pings = 0
    while loop.time() < until:
        message = await client.receive(wait=5)
        assert message["type"] == "ping", message
        pings += 1
        await client.send({"type": "pong"})
    assert pings >= 5
    await client.close()


async def test_a_silent_client_is_closed(ws, ws_client, settings):
    settings.CAUSERIE_REALTIME_HEARTBEAT_INTERVAL = 0.1
    settings.CAUSERIE_REALTIME_HEARTBEAT_TIMEOUT = 0.3
    client = await ws_client(token=ws.token)
    assert await client.connect()
    closed = (await client.receive_until(lambda m: m["type"] == "closed", wait=10))[-1]
    assert closed["code"] == CLOSE_HEARTBEAT_TIMEOUT
    await client.close()


async def test_revoking_the_key_or_removing_the_member_closes_open_connections(
    ws, ws_client, settings
):
    settings.CAUSERIE_REALTIME_HEARTBEAT_INTERVAL = 0.1
    settings.CAUSERIE_REALTIME_HEARTBEAT_TIMEOUT = 30
    created = await sync(api_key_create)(
        actor=ws.owner_actor, name="k", key_scopes=["contacts:read"], expires_at=None
    )
    member, member_token = await sync(ws.add_member)("agent")
    by_key = await subscribed(ws_client, created.token, ws.slug)
    by_member = await subscribed(ws_client, member_token, ws.slug)

    await sync(
        lambda: ApiKey.objects.filter(pk=created.api_key.pk).update(revoked_at=timezone.now())
    )()
    await sync(lambda: Membership.objects.filter(pk=member.pk).delete())()

    for client in (by_key, by_member):
        messages = await client.receive_until(lambda m: m["type"] == "closed")
        assert messages[-1]["code"] == 4001
        await client.close()
