"""Committed events published from sync code that has no event loop (gunicorn, Celery)."""

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from redis.asyncio.connection import Connection

from crm.realtime import workspace_group
from crm.services.events import event_record

pytestmark = pytest.mark.django_db(transaction=True)


def _record_in_a_plain_thread(ws, n: int) -> None:
    """Commit one event from a thread of its own, as a sync worker's request does."""

    def commit() -> None:
        try:
            event_record(workspace=ws.workspace, type="contact.updated", data={"n": n})
        finally:
            connection.close()

    thread = threading.Thread(target=commit)
    thread.start()
    thread.join()


async def test_commits_without_an_event_loop_reach_the_group_over_one_kept_connection(
    ws, monkeypatch
):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL): the in-memory layer has no connections")
    opened = []
    real_connect = Connection._connect

    async def counting_connect(self):
        opened.append(self)
        await real_connect(self)

    monkeypatch.setattr(Connection, "_connect", counting_connect)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(workspace_group(ws.workspace.pk), channel)

    await asyncio.to_thread(_record_in_a_plain_thread, ws, 0)
    first = await asyncio.wait_for(layer.receive(channel), 5)
    connections_after_first = len(opened)
    for n in range(1, 5):
        await asyncio.to_thread(_record_in_a_plain_thread, ws, n)
    later = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(4)]

    received = [message["events"][0]["data"]["n"] for message in [first, *later]]
    assert received == [0, 1, 2, 3, 4]
    assert len(opened) == connections_after_first
