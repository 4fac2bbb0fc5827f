"""Celery tasks of the integrations app: thin interfaces over the services."""

from celery import shared_task


@shared_task(name="integrations.process_inbound_events", acks_late=True, ignore_result=True)
def process_inbound_events_task() -> int:
    """Drain pending inbound events in batches (idempotent: safe to run twice)."""
    from .services.processing import inbound_events_drain

    return inbound_events_drain()
