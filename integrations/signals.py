"""Queued replies are handed to the send task after commit."""

from django.dispatch import receiver

from conversations.models import Message
from conversations.signals import reply_queued


@receiver(reply_queued, sender=Message, dispatch_uid="integrations.send_queued_reply")
def send_queued_reply(*, message_id, **kwargs) -> None:
    from .tasks import send_reply_task

    send_reply_task.delay(message_id=str(message_id))
