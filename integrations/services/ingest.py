"""From normalized platform events to contacts, conversations and messages.

Every write goes through the contacts and conversations services, which are idempotent
by the platforms' ids, so a redelivered, duplicated or reordered event changes nothing
the second time. An event about a message not stored yet (an edit, reaction or receipt
overtaking its message) raises ``TargetNotYetKnown`` so that processing retries it later.
"""

import dataclasses
import logging
import operator
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from contacts.services.identities import (
    IdentitySeen,
    identities_resolve_batch,
    identity_resolve,
)
from conversations.models import KINDS, Conversation, Message
from conversations.services.echoes import ConversationNotYetKnown, message_ingest_native_echo
from conversations.services.messages import (
    InboundMessage,
    message_delete,
    message_edit,
    message_ingest_inbound,
    message_platform_metadata_update,
    message_restore,
    message_status_set,
    messages_by_platform_ids,
    messages_ingest_inbound_batch,
    reaction_add,
    reaction_remove,
)
from crm.services.events import events_record

from ..adapters import NormalizedEvent
from ..adapters.base import Direction, EventType
from ..models import BrandAccount

logger = logging.getLogger(__name__)

# Receipt and status events map onto the message statuses of API.md.
STATUS_OF_EVENT = {
    EventType.RECEIPT_DELIVERED: "delivered",
    EventType.RECEIPT_READ: "read",
    EventType.STATUS_SENT: "sent",
    EventType.STATUS_FAILED: "failed",
}


class TargetNotYetKnown(Exception):
    """The event refers to a message Causerie has not stored (yet)."""


def attachment_data(attachment) -> dict[str, Any]:
    """An adapter attachment as stored on a message (metadata and URL, never the bytes)."""
    data = {}
    for key, value in dataclasses.asdict(attachment).items():
        if value is None:
            continue
        data[key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _message(account: BrandAccount, external_id: str | None) -> Message:
    message = (
        Message.objects.filter(brand_account=account, external_id=external_id).first()
        if external_id
        else None
    )
    if message is None:
        raise TargetNotYetKnown(f"message {external_id!r} is not stored yet")
    return message


def _author(event: NormalizedEvent) -> IdentitySeen:
    # Threads without an author id (an email thread, an api thread) are the customer's.
    return IdentitySeen(
        external_id=event.author_external_id or event.thread_key,
        handle=event.author_handle or "",
        display_name=event.author_display_name or "",
        avatar_url=event.author_avatar_url or "",
    )


def _inbound_message_fields(event: NormalizedEvent) -> dict[str, Any]:
    return {
        "thread_key": event.thread_key,
        "external_id": event.external_message_id or event.idempotency_key,
        "text": event.text or "",
        "attachments": [attachment_data(a) for a in event.attachments],
        "received_at": event.platform_created_at,
        "kind": event.conversation_kind,
        "parent_external_id": event.parent_external_id,
        "author_name": event.author_display_name or event.author_handle or "",
        "subject": event.subject or "",
        "platform_metadata": dict(event.platform_metadata or {}),
    }


def _inbound_message(account: BrandAccount, event: NormalizedEvent) -> None:
    if (
        event.external_message_id
        and Message.objects.filter(
            brand_account=account, external_id=event.external_message_id
        ).exists()
    ):
        # Stored already: a redelivery, a re-read polled item, or the brand's own reply
        # seen again by a platform that cannot tell it apart (forums and blogs show every
        # post alike). Its author must not become a contact.
        return
    author = _author(event)
    identity = identity_resolve(
        workspace=account.workspace,
        platform=account.platform,
        external_id=author.external_id,
        brand_account=account,
        handle=author.handle,
        display_name=author.display_name,
        avatar_url=author.avatar_url,
    )
    message_ingest_inbound(
        brand_account=account, contact=identity.contact, **_inbound_message_fields(event)
    )


def _echo(account: BrandAccount, event: NormalizedEvent) -> None:
    """The brand's own message seen by the platform: ours confirms a send."""
    ours = None
    if event.external_message_id:
        ours = Message.objects.filter(
            brand_account=account, external_id=event.external_message_id
        ).first()
    if ours is None and event.client_ref:
        ours = Message.objects.filter(
            workspace_id=account.workspace_id, client_ref=event.client_ref
        ).first()
    if ours is not None:
        message_status_set(
            message=ours,
            status="sent",
            external_id=event.external_message_id,
            at=event.platform_created_at,
        )
        return
    # Sent from the platform's own app by someone at the brand: nothing of ours to match.
    # Keep the thread complete by storing it as the brand's message.
    try:
        message_ingest_native_echo(
            brand_account=account,
            thread_key=event.thread_key,
            external_id=event.external_message_id or event.idempotency_key,
            text=event.text or "",
            attachments=[attachment_data(a) for a in event.attachments],
            sent_at=event.platform_created_at,
            kind=event.conversation_kind,
            parent_external_id=event.parent_external_id,
        )
    except ConversationNotYetKnown as exc:
        raise TargetNotYetKnown(f"thread {event.thread_key!r} has no conversation yet") from exc


def _receipt(account: BrandAccount, event: NormalizedEvent) -> None:
    status = STATUS_OF_EVENT[EventType(event.event_type)]
    error = None
    if status == "failed":
        error = {"code": event.error_code or "", "message": event.error_detail or ""}
    targets = [i for i in (event.external_message_id, *event.related_external_ids) if i]
    if event.receipt_watermark is not None and not targets:
        # A watermark covers every earlier outbound message of the thread.
        conversation = Conversation.objects.filter(
            brand_account=account, thread_key=event.thread_key
        ).first()
        if conversation is None:
            return
        for message in Message.objects.filter(
            conversation=conversation,
            direction="outbound",
            private=False,
            sent_at__lte=event.receipt_watermark,
        ).exclude(status__in=("failed", "read")):
            message_status_set(message=message, status=status, at=event.platform_created_at)
        return
    for external_id in targets:
        message_status_set(
            message=_message(account, external_id),
            status=status,
            error=error,
            at=event.platform_created_at,
        )


def _stale(message: Message, event: NormalizedEvent) -> bool:
    """Whether an edit is older than the version stored (platforms that number versions).

    Webhooks arrive out of order: version 2 of a forum post must not overwrite version 3.
    """
    stored = message.platform_metadata.get("version")
    incoming = (event.platform_metadata or {}).get("version")
    return isinstance(stored, int) and isinstance(incoming, int) and incoming < stored


def normalized_event_ingest(*, account: BrandAccount, event: NormalizedEvent) -> None:
    """Apply one normalized event to the workspace's contacts and conversations."""
    kind = event.event_type
    if kind == EventType.MESSAGE_CREATED:
        if event.direction == Direction.OUTBOUND:
            _echo(account, event)
        else:
            _inbound_message(account, event)
    elif kind == EventType.MESSAGE_EDITED:
        message = _message(account, event.external_message_id)
        if _stale(message, event):
            return
        if event.platform_metadata:
            message_platform_metadata_update(
                message=message, metadata=dict(event.platform_metadata)
            )
        if message.deleted_at is None:
            # An edit overtaken by the message's deletion has nothing left to change.
            message_edit(
                message=message, text=event.text or "", edited_at=event.platform_created_at
            )
    elif kind == EventType.MESSAGE_DELETED:
        message_delete(
            message=_message(account, event.external_message_id),
            deleted_at=event.platform_created_at,
        )
    elif kind == EventType.MESSAGE_RESTORED:
        message_restore(message=_message(account, event.external_message_id))
    elif kind in (EventType.REACTION_ADDED, EventType.REACTION_REMOVED):
        message = _message(account, event.external_message_id)
        author = {"author_type": "contact", "author_id": event.author_external_id or ""}
        if kind == EventType.REACTION_ADDED:
            reaction_add(
                message=message,
                reaction=event.reaction or "like",
                author_name=event.author_display_name or "",
                **author,
            )
        else:
            reaction_remove(message=message, reaction=event.reaction, **author)
    elif kind in STATUS_OF_EVENT:
        _receipt(account, event)
    else:
        # Typing indicators and comment moderation flags carry nothing to store.
        logger.debug("ignoring %s event from %s", kind, account.platform)


# NUL, which PostgreSQL stores in neither text nor jsonb, and lone UTF-16 surrogates, which
# valid JSON may carry ("\\ud800") but no UTF-8 can encode.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable_text(text: str) -> str:
    return _UNSTORABLE.sub(lambda found: "" if found.group() == "\x00" else "\ufffd", text)


# Values that hold no string: the walk for unstorable text skips them.
_WITHOUT_TEXT = frozenset({type(None), bool, int, float, datetime, date, Decimal, uuid.UUID})
_FIELD_GETTERS: dict[type, Callable[[Any], tuple]] = {}


def _field_values(value: Any) -> tuple:
    """A dataclass instance's field values, through one getter per class."""
    getter = _FIELD_GETTERS.get(value.__class__)
    if getter is None:
        names = [item.name for item in dataclasses.fields(value)]
        if len(names) > 1:
            getter = operator.attrgetter(*names)
        else:  # attrgetter of one name returns the value itself, not a tuple
            getter = lambda item: tuple(getattr(item, name) for name in names)  # noqa: E731
        _FIELD_GETTERS[value.__class__] = getter
    return getter(value)


def _strings(value: Any) -> list[str]:
    """Every string in ``value``: itself, or in its dataclass fields, dict keys and values,
    tuple and list items, however deep."""
    strings: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings.append(item)
        elif item.__class__ in _WITHOUT_TEXT:
            continue
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, tuple | list):
            pending.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            pending.extend(_field_values(item))
    return strings


def _is_storable(value: Any) -> bool:
    # One search over all the strings at once: walking each value with its own search
    # was a sixth of a batch's Python time. Joining cannot make or hide a NUL or a lone
    # surrogate (a str is a sequence of code points, not of UTF-16 units).
    text = "".join(_strings(value))
    if text.isascii():
        return "\x00" not in text
    return _UNSTORABLE.search(text) is None


def storable(value: Any) -> Any:
    """``value`` with its strings made storable: NUL dropped, lone surrogates replaced.

    Platforms may send both; neither means anything to a person, and dropping or replacing
    them keeps the rest of the message instead of failing it. Dataclasses (events,
    attachments), tuples, lists and dicts are rebuilt only when they hold such a string.
    """
    if _is_storable(value):
        return value
    if isinstance(value, str):
        return _storable_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return dataclasses.replace(
            value, **{item.name: storable(getattr(value, item.name)) for item in fields}
        )
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return type(value)(storable(item) for item in value)


def normalized_events_ingest(
    *, account: BrandAccount, events: Iterable[NormalizedEvent]
) -> list[TargetNotYetKnown]:
    """Apply the events of one platform delivery, in the order the platform sent them.

    A body often batches unrelated events: each is applied in its own savepoint, so one
    event waiting for its message never holds back the others. Returns the events that
    must wait (their deliveries are retried; what was applied is not applied twice).
    """
    waiting: list[TargetNotYetKnown] = []
    for event in events:
        try:
            with transaction.atomic():
                normalized_event_ingest(account=account, event=storable(event))
        except TargetNotYetKnown as exc:
            waiting.append(exc)
    return waiting


# Events that store nothing (typing, comment moderation flags): any path may skip them.
_STORED_TYPES = frozenset(
    {
        EventType.MESSAGE_CREATED,
        EventType.MESSAGE_EDITED,
        EventType.MESSAGE_DELETED,
        EventType.MESSAGE_RESTORED,
        EventType.REACTION_ADDED,
        EventType.REACTION_REMOVED,
        *STATUS_OF_EVENT,
    }
)


def _batchable(event: NormalizedEvent) -> bool:
    if event.event_type == EventType.MESSAGE_CREATED:
        return (
            event.direction != Direction.OUTBOUND
            and event.conversation_kind in KINDS
            and bool(event.external_message_id or event.idempotency_key)
            and bool(event.author_external_id or event.thread_key)
        )
    return event.event_type not in _STORED_TYPES


def _restates(event: NormalizedEvent, created: NormalizedEvent) -> bool:
    """Whether an edit says again what a message's creation just said (a polled item)."""
    return (
        event.event_type == EventType.MESSAGE_EDITED
        and event.external_message_id == created.external_message_id
        and event.text == created.text
        and event.platform_metadata == created.platform_metadata
    )


def batchable(events: Sequence[NormalizedEvent]) -> bool:
    """Whether ``normalized_events_ingest_batch`` may apply the events of one delivery.

    New customer messages (the bulk of any traffic), events that store nothing, and an
    edit restating a message created before it in the same delivery (a polled item reads
    as both: nothing to change when the message is new). Other edits, deletions,
    reactions, receipts and echoes take the per-event path.
    """
    created: dict[str | None, NormalizedEvent] = {}
    for event in events:
        if _batchable(event):
            if event.event_type == EventType.MESSAGE_CREATED and event.external_message_id:
                created.setdefault(event.external_message_id, event)
        elif event.external_message_id not in created or not _restates(
            event, created[event.external_message_id]
        ):
            return False
    return True


def _deferred_deliveries(
    inbound: Sequence[tuple[int, NormalizedEvent]],
    seen: Sequence[IdentitySeen],
    contacts: Sequence[Any],
    edited: set[int],
) -> set[int]:
    """The deliveries to leave to the per-event path, applied after the others.

    Those of an author ``identities_resolve_batch`` could not resolve, those in
    ``edited`` (their edit applies to a message stored before), and, so that the
    per-event path meets its thread as if it came in order, every delivery sharing a
    thread, an author or a parent with one of them.
    """
    slow = set(edited) | {
        index for (index, _), contact in zip(inbound, contacts, strict=True) if contact is None
    }
    while True:
        touched = [
            (event, person)
            for (index, event), person in zip(inbound, seen, strict=True)
            if index in slow
        ]
        threads = {event.thread_key for event, _ in touched}
        authors = {person.external_id for _, person in touched}
        ids = {event.external_message_id for event, _ in touched} - {None}
        more = {
            index
            for (index, event), person in zip(inbound, seen, strict=True)
            if event.thread_key in threads
            or person.external_id in authors
            or event.parent_external_id in ids
        }
        if more <= slow:
            return slow
        slow |= more


def normalized_events_ingest_batch(
    *, account: BrandAccount, deliveries: Sequence[Sequence[NormalizedEvent]]
) -> set[int]:
    """Apply many deliveries' ``batchable`` events set-based, in one ``events_record``.

    The same contacts, conversations, messages and events as ``normalized_events_ingest``
    over each delivery in turn, in a fixed number of statements (PostgreSQL only; a
    changed profile costs a few more). Returns the indexes of the deliveries it left for
    the per-event path (an author to adopt from an import placeholder or whose contact
    was merged away, an edit of a message stored before, and what shares a thread with
    them); their messages were not applied. Raises ``RowsConflict`` when a concurrent
    writer made one of the new rows first: the caller rolls its savepoint back and
    applies the deliveries one by one.
    """
    created = [
        (index, storable(event))
        for index, events in enumerate(deliveries)
        for event in events
        if event.event_type == EventType.MESSAGE_CREATED
    ]
    # As ``_inbound_message``: a message stored already (or earlier in the batch) is
    # skipped before its author is looked at, so a brand's own post seen again never
    # makes the brand a contact.
    stored = set(
        messages_by_platform_ids(
            brand_account=account,
            external_ids={e.external_message_id for _, e in created if e.external_message_id},
        ).values_list("external_id", flat=True)
    )
    inbound = []
    # Deliveries whose restating edit meets a message stored before: a real edit.
    edited = set()
    for index, event in created:
        if event.external_message_id:
            if event.external_message_id in stored:
                if any(e.event_type == EventType.MESSAGE_EDITED for e in deliveries[index]):
                    edited.add(index)
                continue
            stored.add(event.external_message_id)
        inbound.append((index, event))
    seen = [_author(event) for _, event in inbound]
    contacts, people_records = identities_resolve_batch(
        workspace=account.workspace, platform=account.platform, brand_account=account, seen=seen
    )
    deferred = _deferred_deliveries(inbound, seen, contacts, edited)
    kept = [
        (event, contact)
        for (index, event), contact in zip(inbound, contacts, strict=True)
        if index not in deferred
    ]
    per_message = iter(
        messages_ingest_inbound_batch(
            brand_account=account,
            messages=[
                InboundMessage(contact=contact, **_inbound_message_fields(event))
                for event, contact in kept
            ],
        )
    )
    # In event order, as the per-event path records them: what an event did to its
    # author's contact, then to its conversation and message.
    records = []
    for (index, _), person_records in zip(inbound, people_records, strict=True):
        records.extend(person_records)
        if index not in deferred:
            records.extend(next(per_message))
    events_record(workspace=account.workspace, items=records)
    return deferred
