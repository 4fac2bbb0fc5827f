"""Conversations and messages as the REST API shows them.

The API answers with these dictionaries and the event log records them as ``data``, so a
client sees one shape whether it reads, subscribes or receives a webhook. They read only
what the selectors load (``select_related``/``prefetch_related``), so a page costs a
fixed number of queries.
"""

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from crm.times import iso

from .models import Conversation, Message
from .windows import reply_window_of


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


# The columns of an inbox row: ``conversation_row_data`` reads these keys, the inbox list
# selects them as values (see ``selectors.inbox_rows``).
CONVERSATION_ROW_COLUMNS = (
    "id",
    "brand_account_id",
    "platform",
    "kind",
    "contact_id",
    "status",
    "priority",
    "assignee_id",
    "team_id",
    "snoozed_until",
    "last_message_at",
    "first_response_at",
    "created_at",
    "updated_at",
    "subject",
    "thread_key",
    "last_message_preview",
    "last_message_direction",
    "last_inbound_at",
    "waiting_since",
    "unread_count",
    "resolved_at",
    "first_response_seconds",
    "next_response_count",
    "next_response_seconds_total",
    "resolution_seconds",
    "reopened_count",
)


def conversation_row(conversation: Conversation) -> dict[str, Any]:
    """A loaded conversation (with its contact and labels) as an inbox row."""
    row = {column: getattr(conversation, column) for column in CONVERSATION_ROW_COLUMNS}
    contact = conversation.contact
    row.update(
        contact_name=contact.name,
        contact_email=contact.email,
        contact_phone=contact.phone,
        label_ids=[label.pk for label in conversation.labels.all()],
    )
    return row


def conversation_data(conversation: Conversation, *, now: datetime | None = None) -> dict:
    """The Conversation resource of API.md, plus the inbox row's extra columns."""
    return conversation_row_data(conversation_row(conversation), now=now)


def conversation_row_data(row: dict[str, Any], *, now: datetime | None = None) -> dict:
    """``conversation_data`` of an inbox row: ``CONVERSATION_ROW_COLUMNS``, the contact's
    ``contact_name``, ``contact_email``, ``contact_phone``, and ``label_ids``."""
    next_count = row["next_response_count"]
    next_avg = row["next_response_seconds_total"] // next_count if next_count else None
    return {
        "id": str(row["id"]),
        "brand_account": _id(row["brand_account_id"]),
        "platform": row["platform"],
        "kind": row["kind"],
        "contact": str(row["contact_id"]),
        "status": row["status"],
        "priority": row["priority"],
        "assignee": _id(row["assignee_id"]),
        "team": _id(row["team_id"]),
        "labels": sorted(str(label_id) for label_id in row["label_ids"]),
        "snoozed_until": iso(row["snoozed_until"]),
        "last_message_at": iso(row["last_message_at"]),
        "first_response_at": iso(row["first_response_at"]),
        "reply_window": reply_window_of(
            platform=row["platform"],
            kind=row["kind"],
            last_inbound_at=row["last_inbound_at"],
            now=now,
        ),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        # Inbox row columns (additions to the contract).
        "subject": row["subject"],
        "thread_key": row["thread_key"],
        "contact_summary": {
            "id": str(row["contact_id"]),
            "name": row["contact_name"],
            "email": row["contact_email"],
            "phone": row["contact_phone"],
        },
        "last_message_preview": row["last_message_preview"],
        "last_message_direction": row["last_message_direction"],
        "last_inbound_at": iso(row["last_inbound_at"]),
        "waiting_since": iso(row["waiting_since"]),
        "unread_count": row["unread_count"],
        "resolved_at": iso(row["resolved_at"]),
        "service_levels": {
            "first_response_seconds": row["first_response_seconds"],
            "next_response_avg_seconds": next_avg,
            "next_response_count": next_count,
            "resolution_seconds": row["resolution_seconds"],
            "reopened_count": row["reopened_count"],
        },
    }


def _related(message: Message, name: str) -> list:
    """A message's reactions or edits: rows read by ``selectors.messages_complete``
    (``reaction_list``, ``edit_list``), else through the related manager."""
    prefetched = getattr(message, f"{name[:-1]}_list", None)
    return prefetched if prefetched is not None else list(getattr(message, name).all())


def message_data(
    message: Message,
    *,
    show_deleted: bool = False,
    reactions: Sequence | None = None,
    edits: Sequence | None = None,
) -> dict:
    """The Message resource of API.md.

    A deleted message keeps its row (threads and counts stay whole) but its text,
    attachments and history are shown only to admins (``show_deleted``). ``reactions``
    and ``edits``: the message's own when the caller knows them without a read (a new
    message has none), else they are read.
    """
    hidden = message.deleted_at is not None and not show_deleted
    if reactions is None:
        reactions = _related(message, "reactions")
    if edits is None and not hidden:
        edits = _related(message, "edits")
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
            for reaction in sorted(reactions, key=lambda r: (r.created_at, r.pk))
        ],
        "edits": []
        if hidden
        else [
            {"text": edit.previous_text, "edited_at": iso(edit.edited_at)}
            for edit in sorted(edits, key=lambda e: (e.edited_at, e.pk))
        ],
        "message_tag": message.message_tag or None,
        "sent_at": iso(message.sent_at),
        "received_at": iso(message.received_at),
        "edited_at": iso(message.edited_at),
        "deleted_at": iso(message.deleted_at),
        "created_at": iso(message.created_at),
        "platform_metadata": message.platform_metadata,
    }


def message_row_data(row: dict[str, Any]) -> dict:
    """``message_data`` of a new message's row (by field attname, as ``crm.bulk.row_new``
    makes it), which has no reactions or edits yet: no model instance built for it."""
    return message_data(SimpleNamespace(pk=row["id"], **row), reactions=(), edits=())
