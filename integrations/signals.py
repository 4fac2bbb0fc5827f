"""Queued replies are handed to the send task after commit."""

from django.dispatch import receiver

from conversations.models import Message
from conversations.signals import reply_queued
from crm.tasks import task_enqueue


@receiver(reply_queued, sender=Message, dispatch_uid="integrations.send_queued_reply")
def send_queued_reply(*, message_id, **kwargs) -> None:
    from .tasks import send_reply_task

    task_enqueue(send_reply_task, message_id=str(message_id))
