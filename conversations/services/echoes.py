"""The brand's messages sent outside Causerie (the platform's own app), seen as echoes."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.services.events import events_record

from ..models import Conversation, Message
from .messages import _lock_conversation, _preview, _record_response, _records


class ConversationNotYetKnown(Exception):
    """The echo belongs to a thread Causerie has not seen a customer message of yet."""


@transaction.atomic
def message_ingest_native_echo(
    *,
    brand_account,
    thread_key: str,
    external_id: str,
    text: str = "",
    attachments: list | None = None,
    sent_at: datetime | None = None,
    kind: str = "direct",
    parent_external_id: str | None = None,
) -> Message:
    """Store a reply someone at the brand sent from the platform's own app; idempotent.

    It answers the customer as a reply from Causerie would (it stops the response clock),
    but it was never queued here, so it is stored as already ``sent`` and authored by the
    brand. Raises ConversationNotYetKnown when the thread has no conversation yet.
    """
    existing = Message.objects.filter(brand_account=brand_account, external_id=external_id).first()
    if existing is not None:
        return existing
    conversation_id = (
        Conversation.objects.filter(
            workspace_id=brand_account.workspace_id,
            brand_account=brand_account,
            thread_key=thread_key,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if conversation_id is None:
        raise ConversationNotYetKnown(thread_key)
    conversation = _lock_conversation(conversation_id)
    now = timezone.now()
    at = sent_at or now
    parent = None
    if parent_external_id:
        parent = Message.objects.filter(
            brand_account=brand_account, external_id=parent_external_id
        ).first()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                workspace_id=brand_account.workspace_id,
                conversation=conversation,
                brand_account=brand_account,
                direction="outbound",
                author_type="brand",
                author_name=brand_account.name,
                text=text or "",
                attachments=attachments or [],
                external_id=external_id,
                parent=parent,
                status="sent",
                sent_at=at,
                created_at=now,
            )
    except IntegrityError:
        return Message.objects.get(brand_account=brand_account, external_id=external_id)
    _record_response(conversation, now=at)
    conversation.last_outbound_at = max(filter(None, [conversation.last_outbound_at, at]))
    if at >= conversation.last_message_at:
        conversation.last_message_at = at
        conversation.last_message_preview = _preview(text, attachments or [])
        conversation.last_message_direction = "outbound"
    conversation.unread_count = 0
    conversation.updated_at = now
    conversation.save()
    events_record(
        workspace=conversation.workspace,
        items=_records(conversation, message, conversation_event="conversation.updated"),
    )
    return message
