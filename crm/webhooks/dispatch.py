"""Queues a delivery run for each subscription concerned by newly committed events."""

import logging

from django.dispatch import receiver

from ..models import Event, WebhookSubscription
from ..services.events import events_committed
from .services import ALL_EVENTS

logger = logging.getLogger(__name__)


@receiver(events_committed, sender=Event, dispatch_uid="crm.webhooks.dispatch")
def queue_webhook_deliveries(*, workspace, events, **kwargs) -> None:
    """After commit: one delivery task per active subscription that wants these events.

    The task reads the events from the log itself, so losing this signal (a crash, a
    broker outage) only delays delivery until the sweep notices the subscription is behind.
    """
    from ..tasks import task_enqueue
    from .tasks import deliver_webhooks_task

    types = {event.type for event in events}
    subscriptions = WebhookSubscription.objects.filter(
        workspace_id=workspace.pk, active=True
    ).values_list("pk", "events")
    for subscription_id, wanted in subscriptions:
        if ALL_EVENTS in wanted or types.intersection(wanted):
            try:
                task_enqueue(deliver_webhooks_task, subscription_id=str(subscription_id))
            except Exception:  # the broker is down: the sweep will catch up
                logger.exception("could not queue webhook delivery for %s", subscription_id)
