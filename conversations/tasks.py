"""Celery tasks of the conversations app (thin: they call one service)."""

from celery import shared_task


@shared_task(name="conversations.wake_snoozed_conversations")
def wake_snoozed_conversations_task() -> int:
    """Reopen the snoozed conversations that are due (run every minute by beat)."""
    from .services.conversations import conversations_wake_due

    return conversations_wake_due()
