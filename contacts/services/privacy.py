"""Data subject requests: export everything held about a person, and erase it.

Erasure keeps the rows that reports count (the contact, its conversations, their
messages, with every timestamp and direction) and removes what identifies or was written
by the person: contact fields, identities, notes about them, the texts, attachments,
edit history and reactions they authored, conversation subjects and previews, and the
copies of all that in the event log, merge records, stored idempotent responses and
the raw webhook bodies that name them.
"""

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict
from crm.models import Event, IdempotencyRecord
from crm.services.audit import audit_record
from crm.services.events import event_record
from crm.times import iso

from ..models import Contact, ContactMerge, Identity, Note
from ..serializers import contact_data, identity_data, note_data
from .contacts import workspace_wide_write_check

ERASED = ""


def _absorbed_ids(contact: Contact) -> list:
    """The contact and every contact merged into it (directly or not): one person."""
    ids, frontier = [contact.pk], [contact.pk]
    while frontier:
        frontier = list(
            Contact.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True)
        )
        ids += frontier
    return ids


def contact_export(*, actor: Actor, contact: Contact) -> dict[str, Any]:
    """Everything held about the person, as one JSON document; the access is audited."""
    from conversations.models import Conversation, Message

    conversations = list(
        Conversation.objects.filter(contact=contact)
        .prefetch_related("labels")
        .order_by("created_at", "id")
    )
    messages_by_conversation: dict[Any, list] = {c.pk: [] for c in conversations}
    messages = (
        Message.objects.filter(conversation__in=conversations)
        .prefetch_related("reactions", "edits")
        .order_by("created_at", "id")
    )
    for message in messages:
        messages_by_conversation[message.conversation_id].append(
            {
                "id": str(message.pk),
                "direction": message.direction,
                "private": message.private,
                "author": {
                    "type": message.author_type,
                    "id": message.author_id or None,
                    "name": message.author_name,
                },
                "text": message.text,
                "attachments": message.attachments,
                "external_id": message.external_id,
                "parent": str(message.parent_id) if message.parent_id else None,
                "status": message.status,
                "reactions": [
                    {
                        "reaction": r.reaction,
                        "author": {"type": r.author_type, "id": r.author_id, "name": r.author_name},
                        "created_at": iso(r.created_at),
                    }
                    for r in message.reactions.all()
                ],
                "edits": [
                    {"previous_text": e.previous_text, "edited_at": iso(e.edited_at)}
                    for e in message.edits.all()
                ],
                "sent_at": iso(message.sent_at),
                "received_at": iso(message.received_at),
                "edited_at": iso(message.edited_at),
                "deleted_at": iso(message.deleted_at),
                "created_at": iso(message.created_at),
            }
        )
    document = {
        "exported_at": iso(timezone.now()),
        "workspace": actor.workspace.slug,
        "contact": contact_data(contact),
        "identities": [
            identity_data(i)
            for i in Identity.objects.filter(contact=contact).order_by("created_at")
        ],
        "notes": [
            note_data(n) for n in Note.objects.filter(contact=contact).order_by("created_at")
        ],
        "conversations": [
            {
                "id": str(c.pk),
                "platform": c.platform,
                "kind": c.kind,
                "brand_account": str(c.brand_account_id) if c.brand_account_id else None,
                "subject": c.subject,
                "status": c.status,
                "labels": [label.name for label in c.labels.all()],
                "created_at": iso(c.created_at),
                "last_message_at": iso(c.last_message_at),
                "messages": messages_by_conversation[c.pk],
            }
            for c in conversations
        ],
        "merges": [
            {
                "id": str(m.pk),
                "duplicate": str(m.duplicate_id),
                "created_at": iso(m.created_at),
                "unmerged_at": iso(m.unmerged_at),
            }
            for m in ContactMerge.objects.filter(primary=contact).order_by("created_at")
        ],
    }
    audit_record(
        actor=actor, action="contact.exported", target_type="contact", target_id=contact.pk
    )
    return document


def contact_erase(*, actor: Actor, contact: Contact) -> Contact:
    """Irreversibly erase the person's personal data; counts and timings stay.

    Covers the contacts merged into this one (the same person). Records
    ``contact.erased`` (``{"id"}``) and an audit entry with what was erased (counts only).
    """
    workspace_wide_write_check(actor=actor, action="erase contacts")
    from conversations.models import Conversation, Message, MessageEdit, Reaction

    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if contact.merged_into_id:
            raise Conflict("Erase the contact this one is merged into.", code="contact_merged")
        person = _absorbed_ids(contact)
        now = timezone.now()
        Contact.objects.filter(pk__in=person).update(
            name=ERASED,
            email=ERASED,
            phone=ERASED,
            company=ERASED,
            tags=[],
            attributes={},
            search_text="",
            phone_key="",
            tag_keys="",
            erased_at=now,
            updated_at=now,
        )
        platform_ids = {
            value
            for pair in Identity.objects.filter(contact_id__in=person).values_list(
                "external_id", "handle"
            )
            for value in pair
            if value and len(value) >= 3
        }
        identities = Identity.objects.filter(contact_id__in=person).delete()[0]
        # Notes are kept as rows (how often the team wrote about them) without the text.
        notes = Note.objects.filter(contact_id__in=person).update(text=ERASED)

        conversation_ids = list(
            Conversation.objects.filter(contact_id__in=person).values_list("pk", flat=True)
        )
        # The thread key holds the platform's id of the person (``page_id:psid``); without
        # it a new message from them starts a new conversation with a new contact.
        for conversation_id in conversation_ids:
            Conversation.objects.filter(pk=conversation_id).update(
                subject=ERASED, last_message_preview=ERASED, thread_key=f"erased:{conversation_id}"
            )
        authored = Message.objects.filter(
            conversation_id__in=conversation_ids, author_type="contact"
        )
        message_ids = list(authored.values_list("pk", flat=True))
        messages = authored.update(
            text=ERASED, attachments=[], author_name=ERASED, author_id=ERASED
        )
        MessageEdit.objects.filter(message_id__in=message_ids).update(previous_text=ERASED)
        Reaction.objects.filter(
            message__conversation_id__in=conversation_ids, author_type="contact"
        ).update(author_name=ERASED, author_id=ERASED)

        merges = ContactMerge.objects.filter(Q(primary_id__in=person) | Q(duplicate_id__in=person))
        merges.update(moved={}, primary_before={}, unmerged_at=now)
        _events_scrub(
            workspace=actor.workspace,
            contact_ids=[str(pk) for pk in person],
            conversation_ids=[str(pk) for pk in conversation_ids],
            message_ids=[str(pk) for pk in message_ids],
        )
        _idempotent_responses_scrub(contact_ids=[str(pk) for pk in person])
        raw = _inbound_events_scrub(conversation_ids=conversation_ids, values=platform_ids)

        audit_record(
            actor=actor,
            action="contact.erased",
            target_type="contact",
            target_id=contact.pk,
            details={
                "contacts": len(person),
                "identities": identities,
                "notes": notes,
                "messages": messages,
                "conversations": len(conversation_ids),
                "raw_events": raw,
            },
        )
        event_record(workspace=actor.workspace, type="contact.erased", data={"id": str(contact.pk)})
    return Contact.objects.prefetch_related("identities").get(pk=contact.pk)


def _events_scrub(
    *, workspace, contact_ids: list[str], conversation_ids: list[str], message_ids: list[str]
) -> None:
    # The event log keeps each change's data as the API showed it then: rewrite the
    # person's copies so that events/ (and redelivered webhooks) no longer show them.
    Event.objects.filter(
        workspace=workspace, type__startswith="contact.", data__id__in=contact_ids
    ).update(data={"erased": True})
    for chunk in _chunks(message_ids):
        for event in Event.objects.filter(
            workspace=workspace, type__startswith="message.", data__id__in=chunk
        ):
            event.data = _message_data_scrub(event.data)
            event.save(update_fields=["data"])
    for chunk in _chunks(conversation_ids):
        for event in Event.objects.filter(
            workspace=workspace, type__startswith="conversation.", data__id__in=chunk
        ):
            data = dict(event.data)
            for key in ("subject", "last_message_preview", "preview", "thread_key"):
                if key in data:
                    data[key] = ERASED
            if isinstance(data.get("contact_summary"), dict):
                data["contact_summary"] = {
                    key: (ERASED if key in ("name", "email", "phone") else value)
                    for key, value in data["contact_summary"].items()
                }
            if isinstance(data.get("last_message"), dict):
                data["last_message"] = _message_data_scrub(data["last_message"])
            event.data = data
            event.save(update_fields=["data"])


def _message_data_scrub(data: dict) -> dict:
    data = dict(data)
    data["text"] = ERASED
    data["attachments"] = []
    if isinstance(data.get("author"), dict):
        data["author"] = {**data["author"], "name": ERASED, "id": None}
    for key in ("edits", "previous_text"):
        data.pop(key, None)
    return data


def _idempotent_responses_scrub(*, contact_ids: list[str]) -> None:
    # A replayed POST would show the contact as it was created or merged.
    IdempotencyRecord.objects.filter(
        Q(response_body__id__in=contact_ids) | Q(response_body__contact__id__in=contact_ids)
    ).update(response_body={"erased": True})


def _inbound_events_scrub(*, conversation_ids: list, values: set[str]) -> int:
    """Empty the stored raw webhook bodies that name the person; their count.

    Raw bodies are kept for replay, and hold the person's ids, names and words. Only
    processed ones are emptied (a pending one still has to become a message); the body's
    hash stays, so a redelivery of the same event is still recognised and ignored.
    """
    from conversations.models import Conversation
    from integrations.models import InboundEvent

    if not values or not conversation_ids:
        return 0
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    accounts = {c.brand_account_id for c in conversations if c.brand_account_id}
    since = min(c.created_at for c in conversations) - timedelta(days=1)
    needles = [value.encode() for value in values]
    emptied = []
    candidates = InboundEvent.objects.filter(
        brand_account_id__in=accounts, status="processed", received_at__gte=since
    ).values_list("pk", "body")
    for pk, body in candidates.iterator(chunk_size=500):
        body = bytes(body)
        if any(needle in body for needle in needles):
            emptied.append(pk)
    for chunk in _chunks(emptied):
        InboundEvent.objects.filter(pk__in=chunk).update(body=b"{}", headers={}, error="")
    return len(emptied)


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start : start + size]
