"""Celery tasks of the integrations app: thin interfaces over the services."""

from celery import shared_task


@shared_task(name="integrations.process_inbound_events", acks_late=True, ignore_result=True)
def process_inbound_events_task() -> int:
    """Drain pending inbound events in batches (idempotent: safe to run twice)."""
    from .services.processing import inbound_events_drain

    return inbound_events_drain()


@shared_task(
    bind=True,
    name="integrations.send_reply",
    acks_late=True,
    ignore_result=True,
    max_retries=12,
)
def send_reply_task(self, *, message_id: str) -> str:
    """Send one queued reply; retried with the platform's wait (rate limit) or backoff."""
    from .services.outbound import RetryLater, outbound_send

    try:
        return outbound_send(message_id=message_id)
    except RetryLater as exc:
        # Honour the platform's own wait, growing with each retry for transient errors.
        countdown = max(exc.seconds, min(600, 2**self.request.retries))
        raise self.retry(countdown=countdown, exc=exc) from exc


@shared_task(name="integrations.sweep_stale_sends", ignore_result=True)
def sweep_stale_sends_task() -> int:
    """Fail replies whose send was interrupted long ago."""
    from .services.outbound import outbound_stale_sweep

    return outbound_stale_sweep()
