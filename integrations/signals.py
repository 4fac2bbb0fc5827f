"""Queued replies are handed to the send task after commit."""

from django.dispatch import receiver

from conversations.models import Message
from conversations.signals import reply_queued


@receiver(reply_queued, sender=Message, dispatch_uid="integrations.send_queued_reply")
def send_queued_reply(*, message_id, **kwargs) -> None:
    from .services.outbound import outbound_send_queue

    outbound_send_queue(message_id=message_id)
