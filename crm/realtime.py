"""Hands committed events to the channel layer, for the websocket inbox.

Group names come from here only: ``ws.workspace.<uuid hex>`` reaches every connection
subscribed to a workspace; consumers filter each event by what their member may see.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver

from .models import Event
from .services.events import event_envelope, events_committed

logger = logging.getLogger(__name__)


def workspace_group(workspace_id) -> str:
    """The channel-layer group of a workspace's realtime subscribers."""
    return f"ws.workspace.{getattr(workspace_id, 'hex', workspace_id)}"


@receiver(events_committed, sender=Event, dispatch_uid="crm.realtime.publish")
def publish_committed_events(*, workspace, events, **kwargs) -> None:
    """Send the events of one commit, in seq order, to the workspace's group at once.

    One ``group_send`` per commit, however many events it recorded (a batch of ingested
    messages records hundreds): each is a round trip to Redis per subscriber channel.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    envelopes = [event_envelope(event, workspace_slug=workspace.slug) for event in events]
    if not envelopes:
        return
    async_to_sync(layer.group_send)(
        workspace_group(workspace.pk), {"type": "events.committed", "events": envelopes}
    )
