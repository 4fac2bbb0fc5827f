"""Conversations and messages as the REST API shows them.

The API answers with these dictionaries and the event log records them as ``data``, so a
client sees one shape whether it reads, subscribes or receives a webhook. They read only
what the selectors load (``select_related``/``prefetch_related``), so a page costs a
fixed number of queries.
"""

from datetime import datetime
from typing import Any

from .models import Conversation, Message
from .windows import reply_window


def iso(value: datetime | None) -> str | None:
    """An aware time in ISO 8601, UTC written as ``Z`` like the rest of the API."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


def contact_summary(conversation: Conversation) -> dict[str, Any]:
    contact = conversation.contact
    return {
        "id": str(contact.pk),
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
    }


def conversation_data(conversation: Conversation, *, now: datetime | None = None) -> dict:
    """The Conversation resource of API.md, plus the inbox row's extra columns."""
    next_avg = (
        conversation.next_response_seconds_total // conversation.next_response_count
        if conversation.next_response_count
        else None
    )
    return {
        "id": str(conversation.pk),
        "brand_account": _id(conversation.brand_account_id),
        "platform": conversation.platform,
        "kind": conversation.kind,
        "contact": str(conversation.contact_id),
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee": _id(conversation.assignee_id),
        "team": _id(conversation.team_id),
        "labels": sorted(str(label.pk) for label in conversation.labels.all()),
        "snoozed_until": iso(conversation.snoozed_until),
        "last_message_at": iso(conversation.last_message_at),
        "first_response_at": iso(conversation.first_response_at),
        "reply_window": reply_window(conversation, now=now),
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        # Inbox row columns (additions to the contract).
        "subject": conversation.subject,
        "thread_key": conversation.thread_key,
        "contact_summary": contact_summary(conversation),
        "last_message_preview": conversation.last_message_preview,
        "last_message_direction": conversation.last_message_direction,
        "last_inbound_at": iso(conversation.last_inbound_at),
        "waiting_since": iso(conversation.waiting_since),
        "unread_count": conversation.unread_count,
        "resolved_at": iso(conversation.resolved_at),
        "service_levels": {
            "first_response_seconds": conversation.first_response_seconds,
            "next_response_avg_seconds": next_avg,
            "next_response_count": conversation.next_response_count,
            "resolution_seconds": conversation.resolution_seconds,
            "reopened_count": conversation.reopened_count,
        },
    }


def message_data(message: Message, *, show_deleted: bool = False) -> dict:
    """The Message resource of API.md.

    A deleted message keeps its row (threads and counts stay whole) but its text,
    attachments and history are shown only to admins (``show_deleted``).
    """
    hidden = message.deleted_at is not None and not show_deleted
    return {
        "id": str(message.pk),
        "conversation": str(message.conversation_id),
        "direction": message.direction,
        "private": message.private,
        "author": {
            "type": message.author_type,
            "id": message.author_id or None,
            "name": message.author_name,
        },
        "text": "" if hidden else message.text,
        "attachments": [] if hidden else message.attachments,
        "external_id": message.external_id or None,
        "parent": _id(message.parent_id),
        "status": message.status,
        "error": message.error,
        "reactions": [
            {
                "reaction": reaction.reaction,
                "author": {
                    "type": reaction.author_type,
                    "id": reaction.author_id or None,
                    "name": reaction.author_name,
                },
                "created_at": iso(reaction.created_at),
            }
            for reaction in sorted(message.reactions.all(), key=lambda r: (r.created_at, r.pk))
        ],
        "edits": []
        if hidden
        else [
            {"text": edit.previous_text, "edited_at": iso(edit.edited_at)}
            for edit in sorted(message.edits.all(), key=lambda e: (e.edited_at, e.pk))
        ],
        "message_tag": message.message_tag or None,
        "sent_at": iso(message.sent_at),
        "received_at": iso(message.received_at),
        "edited_at": iso(message.edited_at),
        "deleted_at": iso(message.deleted_at),
        "created_at": iso(message.created_at),
        "platform_metadata": message.platform_metadata,
    }
