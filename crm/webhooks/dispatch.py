"""Queues a delivery run for each subscription concerned by newly committed events."""

import logging

from django.dispatch import receiver

from ..models import Event, WebhookSubscription
from ..process_cache import remembered
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
    for subscription_id, wanted in _subscriptions_active(workspace.pk):
        if ALL_EVENTS in wanted or not wanted.isdisjoint(types):
            try:
                task_enqueue(deliver_webhooks_task, subscription_id=subscription_id)
            except Exception:  # the broker is down: the sweep will catch up
                logger.exception("could not queue webhook delivery for %s", subscription_id)


def _subscriptions_active(workspace_id) -> tuple[tuple[str, frozenset[str]], ...]:
    # Remembered a few seconds per process (crm.process_cache): every commit that records
    # events asks. A subscription another process has just created is queued by the sweep
    # meanwhile; one it has just disabled gets a run that finds it inactive and stops.
    def read() -> tuple[tuple[str, frozenset[str]], ...]:
        rows = WebhookSubscription.objects.filter(workspace_id=workspace_id, active=True)
        return tuple(
            (str(pk), frozenset(events)) for pk, events in rows.values_list("pk", "events")
        )

    return remembered(("webhook_subscriptions", workspace_id), read)
