"""Celery tasks of the conversations app (thin: they call one service)."""

from celery import shared_task


@shared_task(name="conversations.wake_snoozed_conversations")
def wake_snoozed_conversations_task() -> int:
    """Reopen the snoozed conversations that are due (run every minute by beat)."""
    from .services.conversations import conversations_wake_due

    return conversations_wake_due()


@shared_task(name="conversations.assign_queued_conversations")
def assign_queued_conversations_task() -> int:
    """Hand queued conversations to members with free places (run every minute by beat)."""
    from .services.assignment import team_queues_drain_all

    return team_queues_drain_all()
