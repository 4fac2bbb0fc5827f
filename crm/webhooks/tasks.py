"""Celery tasks of outbound webhooks, routed to their own ``webhooks`` queue.

The queue (``CELERY_TASK_ROUTES``) keeps a backlog of webhook deliveries from delaying
inbound events or replies. Every task is idempotent (the subscription's lease and cursor
make a second run of the same task a no-op), so they are acknowledged late.
"""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="crm.deliver_webhooks", acks_late=True, ignore_result=True)
def deliver_webhooks_task(*, subscription_id: str) -> int:
    """Deliver one subscription's pending events in order; queue another run if some remain."""
    from .delivery import subscription_deliver

    outcome = subscription_deliver(subscription_id=subscription_id)
    if outcome.more:
        deliver_webhooks_task.delay(subscription_id=subscription_id)
    return outcome.delivered


@shared_task(name="crm.redeliver_webhook", acks_late=True, ignore_result=True)
def redeliver_webhook_task(*, delivery_id: str) -> None:
    """Send one logged delivery's event again (the redeliver endpoint)."""
    from .delivery import delivery_resend

    delivery_resend(delivery_id=delivery_id)


@shared_task(name="crm.sweep_webhooks", ignore_result=True)
def sweep_webhooks_task() -> int:
    """Queue a run for every subscription that is behind and due (beat, every 5 s).

    This is what retries after a backoff, and what catches up after a lost signal or task.
    """
    from .delivery import subscriptions_due

    due = subscriptions_due()
    for subscription_id in due:
        deliver_webhooks_task.delay(subscription_id=str(subscription_id))
    return len(due)
