"""Messages: replies and private notes, inbound ingest, edits, deletions, reactions."""

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet, prefetch_related_objects
from django.utils import timezone

from crm.actors import Actor
from crm.bulk import prefetched, row_new, rows_insert_new, rows_update
from crm.exceptions import Conflict, Forbidden, InvalidInput, NotFound, PolicyRefusal
from crm.models import Team
from crm.scopes import ROLE_SALES, ROLE_VIEWER
from crm.services.events import events_record

from ..models import (
    KINDS,
    MESSAGE_STATUSES,
    ORPHAN_KEY,
    STATUS_OPEN,
    STATUS_PENDING,
    STATUS_RESOLVED,
    STATUS_SNOOZED,
    Conversation,
    Message,
    MessageEdit,
    Reaction,
)
from ..presence import members_typing
from ..representations import (
    conversation_data,
    conversation_row_data,
    message_data,
    message_row_data,
)
from ..selectors import inbox_rows, thread_conversations_locked
from ..signals import reply_queued
from ..sla import business_seconds
from ..windows import reply_message_tag, reply_window
from .assignment import conversation_auto_assign

PREVIEW_LENGTH = 200
MAX_ATTACHMENTS = 20
# Monotone delivery statuses: a late "delivered" never overwrites "read" (CHANNELS.md §9.3).
STATUS_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}


def _preview(text: str, attachments: list) -> str:
    if text:
        return " ".join(text.split())[:PREVIEW_LENGTH]
    if attachments:
        kind = (attachments[0] or {}).get("kind") or (attachments[0] or {}).get("type") or "file"
        return f"[{kind}]"
    return ""


def _attachments_validate(attachments: Any) -> list[dict]:
    if attachments in (None, ""):
        return []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise InvalidInput(
            "Attachments are a list of objects.", details={"attachments": ["A list of objects."]}
        )
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(
            "Too many attachments.", details={"attachments": [f"At most {MAX_ATTACHMENTS}."]}
        )
    for attachment in attachments:
        if "data" in attachment or "content" in attachment:
            raise InvalidInput(
                "Attachments are sent by URL, not inline.",
                details={"attachments": ["Give a url (and kind, mime, size, name), not bytes."]},
            )
    return attachments


def _lock_conversation(conversation_id) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("workspace", "team", "contact")
        .get(pk=conversation_id)
    )


def _records(conversation: Conversation, message: Message, *, conversation_event: str):
    # ``conversation`` is the row locked (``_lock_conversation``, with its contact) and
    # saved whole in this transaction: only its labels are read for the event.
    prefetch_related_objects([conversation], "labels")
    return [
        (conversation_event, conversation_data(conversation)),
        # Just created: every field is the one written, and nothing has reacted to it or
        # edited it yet.
        ("message.created", message_data(message, reactions=(), edits=())),
    ]


def _parent_get(conversation: Conversation, parent_id) -> Message | None:
    if parent_id in (None, ""):
        return None
    parent = Message.objects.filter(conversation=conversation, pk=parent_id).first()
    if parent is None:
        raise InvalidInput(
            "The parent is not a message of this conversation.",
            details={"parent": ["Unknown message in this conversation."]},
        )
    return parent


def canned_render(text: str, *, conversation: Conversation | None, actor: Actor) -> str:
    """Fill a canned response's placeholders for this conversation and agent.

    ``{{contact.name}}``, ``{{contact.first_name}}``, ``{{contact.email}}``,
    ``{{agent.name}}``, ``{{agent.first_name}}``; an unknown placeholder is left as is,
    a missing value becomes "".
    """
    contact = conversation.contact if conversation is not None else None
    contact_name = (contact.name if contact else "") or ""
    agent_name = actor.name if actor.kind == "member" else ""
    values = {
        "contact.name": contact_name,
        "contact.first_name": contact_name.split(" ")[0] if contact_name else "",
        "contact.email": (contact.email if contact else "") or "",
        "agent.name": agent_name,
        "agent.first_name": agent_name.split(" ")[0] if agent_name else "",
    }
    for key, value in values.items():
        for spelling in (f"{{{{{key}}}}}", f"{{{{ {key} }}}}"):
            text = text.replace(spelling, value)
    return text


@transaction.atomic
def message_send(
    *,
    actor: Actor,
    conversation: Conversation,
    text: str,
    private: bool = False,
    parent_id=None,
    attachments: list | None = None,
) -> Message:
    """Write a reply (stored ``queued``, sent by the adapters after commit) or a private note.

    Sales and viewers never reply. A reply on a platform whose reply window is closed is
    refused with 422 ``reply_window_closed``; a reply between 24 h and 7 days on
    Messenger/Instagram carries the ``HUMAN_AGENT`` tag. Private notes never leave
    Causerie and do not count as responses.

    Realtime: a reply written while other members are typing in the conversation is
    accepted with ``message.collision = {"typing": [member ids]}``, also written into its
    ``message.created`` event; with the workspace's ``replies_require_assignee`` on, a reply
    to a conversation assigned to someone else is refused with 409 ``assignee_lock``.
    """
    if actor.role in (ROLE_SALES, ROLE_VIEWER):
        raise Forbidden("Sales and viewers read conversations but do not reply.")
    attachments = _attachments_validate(attachments)
    if not (text or "").strip() and not attachments:
        raise InvalidInput("A message needs text or attachments.", details={"text": ["Empty."]})
    now = timezone.now()
    conversation = _lock_conversation(conversation.pk)
    parent = _parent_get(conversation, parent_id)
    tag = ""
    if not private:
        window = reply_window(conversation, now=now)
        if not window["open"]:
            raise PolicyRefusal(
                "The platform's reply window for this conversation is closed.",
                code="reply_window_closed",
                details={"reply_window": window},
            )
        tag = reply_message_tag(conversation, now=now)
        _assignee_lock_check(actor, conversation)
    is_member = actor.kind == "member"
    message = Message.objects.create(
        workspace=actor.workspace,
        conversation=conversation,
        brand_account_id=conversation.brand_account_id,
        direction="outbound",
        private=private,
        author_type="member" if is_member else ("system" if actor.kind == "system" else "brand"),
        author_id=actor.id,
        author_name=actor.name,
        author_member=actor.membership,
        text=text or "",
        attachments=attachments,
        parent=parent,
        status="sent" if private else "queued",
        message_tag=tag,
        client_ref="" if private else uuid.uuid4().hex,
        sent_at=now if private else None,
        created_at=now,
    )
    if not private:
        _record_response(conversation, now=now)
        conversation.last_outbound_at = now
        conversation.last_message_at = max(conversation.last_message_at, now)
        conversation.last_message_preview = _preview(text, attachments)
        conversation.last_message_direction = "outbound"
        conversation.unread_count = 0
        if conversation.assignee_id is None and actor.membership is not None:
            # Whoever answers an unassigned conversation takes it, so it leaves the queue.
            conversation.assignee = actor.membership
    conversation.updated_at = now
    conversation.save()
    records = _records(conversation, message, conversation_event="conversation.updated")
    # Realtime collision warning: the reply is accepted, and says who else was typing.
    collision = _reply_collision(actor, conversation) if not private else None
    if collision:
        records[-1][1]["collision"] = collision
    message.collision = collision
    events_record(workspace=actor.workspace, items=records)
    if not private:
        message_id, workspace_id = message.pk, actor.workspace.pk
        transaction.on_commit(
            lambda: reply_queued.send_robust(
                sender=Message, message_id=message_id, workspace_id=workspace_id
            )
        )
    return message


def _assignee_lock_check(actor: Actor, conversation: Conversation) -> None:
    """With ``replies_require_assignee``, only the assignee replies to an assigned one."""
    if not conversation.workspace.replies_require_assignee or actor.kind == "system":
        return
    if conversation.assignee_id is None:
        return
    if actor.membership is not None and actor.membership.pk == conversation.assignee_id:
        return
    raise Conflict(
        "Only the conversation's assignee can reply; take the conversation first.",
        code="assignee_lock",
        details={"assignee": str(conversation.assignee_id)},
    )


def _reply_collision(actor: Actor, conversation: Conversation) -> dict | None:
    """``{"typing": [member ids]}`` when other members are typing in the conversation."""
    me = actor.membership.pk if actor.membership is not None else None
    typing = members_typing(conversation_id=conversation.pk, exclude_member_id=me)
    return {"typing": typing} if typing else None


def _record_response(conversation: Conversation, *, now: datetime) -> None:
    """Stop the response clock if the customer was waiting (first or next response)."""
    if conversation.waiting_since is None:
        return
    seconds = business_seconds(
        workspace=conversation.workspace, start=conversation.waiting_since, end=now
    )
    if conversation.first_response_at is None:
        # Set once in the conversation's life: a reopened conversation's replies are
        # next responses, never a new first response.
        conversation.first_response_at = now
        conversation.first_response_seconds = seconds
    else:
        conversation.next_response_count += 1
        conversation.next_response_seconds_total += seconds
    conversation.waiting_since = None


@dataclass(frozen=True)
class IngestResult:
    message: Message
    conversation: Conversation
    created: bool  # False when the external id was already stored (a redelivery)
    conversation_created: bool


def _conversation_new_values(
    *, brand_account, thread_key: str, contact_id, kind: str, subject: str, team_id, at: datetime
) -> dict[str, Any]:
    """A platform thread's conversation as its first inbound message creates it: the
    values by field attname (``Conversation(**values)``, ``row_new``)."""
    return {
        "workspace_id": brand_account.workspace_id,
        "brand_account_id": brand_account.pk,
        "thread_key": thread_key,
        "contact_id": contact_id,
        "platform": brand_account.platform,
        "kind": kind,
        "subject": subject,
        "team_id": team_id,
        "last_message_at": at,
        "created_at": at,
        "updated_at": at,
    }


def _conversation_find_or_create(
    *,
    brand_account,
    thread_key: str,
    contact,
    kind: str,
    subject: str,
    team: Team | None,
    at: datetime,
) -> tuple[Conversation, bool]:
    lookup = {
        "workspace_id": brand_account.workspace_id,
        "brand_account": brand_account,
        "thread_key": thread_key,
    }
    existing = Conversation.objects.filter(**lookup).values_list("pk", flat=True).first()
    if existing is not None:
        return _lock_conversation(existing), False
    try:
        # A savepoint: a parallel delivery of the same thread may win the unique
        # constraint, and then this one uses its row.
        with transaction.atomic():
            created = Conversation(
                **_conversation_new_values(
                    brand_account=brand_account,
                    thread_key=thread_key,
                    contact_id=contact.pk,
                    kind=kind,
                    subject=subject,
                    team_id=team.pk if team is not None else None,
                    at=at,
                )
            )
            created.save(force_insert=True)
    except IntegrityError:
        existing = Conversation.objects.filter(**lookup).values_list("pk", flat=True).get()
        return _lock_conversation(existing), False
    return _lock_conversation(created.pk), True


def _inbound_message_values(
    *,
    conversation_id,
    contact_id,
    contact_name: str,
    brand_account,
    external_id: str,
    text: str,
    attachments: list,
    at: datetime,
    now: datetime,
    parent_id,
    author_name: str,
    platform_metadata: dict,
) -> dict[str, Any]:
    """An inbound message as ingest stores it: the values by field attname
    (``Message(**values)``, ``row_new``)."""
    return {
        "workspace_id": brand_account.workspace_id,
        "conversation_id": conversation_id,
        "brand_account_id": brand_account.pk,
        "direction": "inbound",
        "author_type": "contact",
        "author_id": str(contact_id),
        "author_name": author_name or contact_name,
        "text": text or "",
        "attachments": attachments,
        "external_id": external_id,
        "parent_id": parent_id,
        "status": "received",
        "received_at": at,
        "platform_metadata": platform_metadata,
        "created_at": now,
    }


def _inbound_message_new(
    *,
    conversation: Conversation,
    brand_account,
    external_id: str,
    text: str,
    attachments: list,
    at: datetime,
    now: datetime,
    parent_id,
    author_name: str,
    platform_metadata: dict,
) -> Message:
    """An inbound message as ingest stores it (unsaved; it has no reactions or edits yet)."""
    message = Message(
        **_inbound_message_values(
            conversation_id=conversation.pk,
            contact_id=conversation.contact_id,
            contact_name=conversation.contact.name,
            brand_account=brand_account,
            external_id=external_id,
            text=text,
            attachments=attachments,
            at=at,
            now=now,
            parent_id=parent_id,
            author_name=author_name,
            platform_metadata=platform_metadata,
        )
    )
    message.conversation = conversation
    message.brand_account = brand_account
    # A new message has no reactions or edits: its event data needs no query for them.
    message._prefetched_objects_cache = {
        "reactions": prefetched(Reaction, []),
        "edits": prefetched(MessageEdit, []),
    }
    return message


def _inbound_apply_row(
    row: dict[str, Any],
    message: dict[str, Any],
    *,
    conversation_created: bool,
    now: datetime,
) -> None:
    """What a new customer message does to its conversation's ``INBOUND_COLUMNS`` (in
    ``row``, by attname; ``message`` likewise; nothing saved).

    A resolved conversation reopens (keeping its first response), a snoozed or pending
    one opens, the reply window moves on, the customer starts waiting if nobody was.
    """
    at = message["received_at"]
    if row["status"] == STATUS_RESOLVED:
        row["reopened_count"] += 1
        row["resolved_at"] = None
    if row["status"] in (STATUS_RESOLVED, STATUS_SNOOZED, STATUS_PENDING):
        row["status"] = STATUS_OPEN
        row["snoozed_until"] = None
    # Platforms deliver out of order: the window and sort columns only move forward.
    row["last_inbound_at"] = max(filter(None, [row["last_inbound_at"], at]))
    if at >= row["last_message_at"] or conversation_created:
        row["last_message_at"] = at
        row["last_message_preview"] = _preview(message["text"], message["attachments"])
        row["last_message_direction"] = "inbound"
    if row["waiting_since"] is None:
        row["waiting_since"] = at
    row["unread_count"] += 1
    row["updated_at"] = now


def _inbound_apply(
    conversation: Conversation,
    message: Message,
    *,
    conversation_created: bool,
    now: datetime,
) -> None:
    """``_inbound_apply_row`` on model instances."""
    row = {column: getattr(conversation, column) for column in INBOUND_COLUMNS}
    _inbound_apply_row(
        row,
        {
            "received_at": message.received_at,
            "text": message.text,
            "attachments": message.attachments,
        },
        conversation_created=conversation_created,
        now=now,
    )
    for column, value in row.items():
        setattr(conversation, column, value)


# The conversation columns ``_inbound_apply`` (and nothing else of ingest) changes.
INBOUND_COLUMNS = (
    "status",
    "snoozed_until",
    "reopened_count",
    "resolved_at",
    "last_inbound_at",
    "last_message_at",
    "last_message_preview",
    "last_message_direction",
    "waiting_since",
    "unread_count",
    "updated_at",
)


def _inbound_records(
    conversation: dict,
    message: dict,
    *,
    conversation_created: bool,
    adopted: Sequence[Message] = (),
) -> list[tuple[str, dict]]:
    """The events of one ingested message, from the event data of its conversation and
    message as they were just written."""
    return [
        ("conversation.created" if conversation_created else "conversation.updated", conversation),
        ("message.created", message),
        *(("message.updated", message_data(reply)) for reply in adopted),
    ]


@transaction.atomic
def message_ingest_inbound(
    *,
    brand_account,
    thread_key: str,
    contact,
    external_id: str,
    text: str = "",
    attachments: list | None = None,
    received_at: datetime | None = None,
    kind: str = "direct",
    parent_external_id: str | None = None,
    author_name: str = "",
    subject: str = "",
    team: Team | None = None,
    platform_metadata: dict | None = None,
) -> IngestResult:
    """Store one normalized inbound message from a platform; idempotent by external id.

    Finds or creates the conversation of ``(workspace, brand_account, thread_key)``
    (``contact`` is used only when the conversation is new), stores the message once per
    ``(brand_account, external_id)``, then: a resolved conversation reopens (keeping its
    first response), a snoozed or pending one opens, ``last_inbound_at`` (the reply
    window) moves on, the customer starts waiting if nobody was, and the team's round
    robin assigns an unassigned conversation. Records ``conversation.created`` or
    ``conversation.updated`` and ``message.created`` in the same transaction.
    """
    _inbound_validate(kind=kind, external_id=external_id)
    attachments = attachments or []
    now = timezone.now()
    at = received_at.astimezone(UTC) if received_at else now
    duplicate = (
        Message.objects.filter(brand_account=brand_account, external_id=external_id)
        .select_related("conversation")
        .first()
    )
    if duplicate is not None:
        return IngestResult(duplicate, duplicate.conversation, False, False)

    conversation, conversation_created = _conversation_find_or_create(
        brand_account=brand_account,
        thread_key=thread_key,
        contact=contact,
        kind=kind,
        subject=subject,
        team=team,
        at=at,
    )
    parent_id = None
    platform_metadata = dict(platform_metadata or {})
    if parent_external_id:
        parent_id = (
            Message.objects.filter(brand_account=brand_account, external_id=parent_external_id)
            .values_list("pk", flat=True)
            .first()
        )
        if parent_id is None:
            # The parent arrives later (platforms deliver out of order): it adopts this
            # message then, by this id.
            platform_metadata[ORPHAN_KEY] = parent_external_id
    message = _inbound_message_new(
        conversation=conversation,
        brand_account=brand_account,
        external_id=external_id,
        text=text,
        attachments=attachments,
        at=at,
        now=now,
        parent_id=parent_id,
        author_name=author_name,
        platform_metadata=platform_metadata,
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        # A concurrent delivery of the same event stored it first (we waited on its
        # conversation lock): that row is the message.
        duplicate = Message.objects.get(brand_account=brand_account, external_id=external_id)
        return IngestResult(duplicate, conversation, False, False)

    _inbound_apply(conversation, message, conversation_created=conversation_created, now=now)
    conversation.save()
    conversation_auto_assign(conversation=conversation)
    adopted = (
        {}
        if conversation_created
        else _orphans_adopt([(message.conversation_id, message.external_id, message.pk)])
    )
    events_record(
        workspace=conversation.workspace,
        items=_inbound_records(
            conversation_data(conversation),
            message_data(message),
            conversation_created=conversation_created,
            adopted=adopted.get(message.pk, []),
        ),
    )
    return IngestResult(message, conversation, True, conversation_created)


def _orphans_adopt(parents: Sequence[tuple[Any, str, Any]]) -> dict[Any, list[Message]]:
    """Thread under each new message the replies of its conversation that came before it.

    ``parents`` are the new messages' ``(conversation_id, external_id, id)``. Returns the
    adopted replies by parent id, as they are now (for their events). One query when
    there are none, however many parents.
    """
    if not parents:
        return {}
    by_key = {(conversation_id, external_id): pk for conversation_id, external_id, pk in parents}
    waiting = _orphan_ids(
        conversation_ids={conversation_id for conversation_id, _, _ in parents},
        parent_external_ids={external_id for _, external_id, _ in parents},
    )
    if not waiting:
        return {}
    orphans = Message.objects.filter(pk__in=waiting).prefetch_related("reactions", "edits")
    adopted: dict[Any, list[Message]] = {}
    for orphan in orphans:
        parent_id = by_key.get((orphan.conversation_id, orphan.platform_metadata.get(ORPHAN_KEY)))
        if parent_id is None:
            continue
        orphan.parent_id = parent_id
        orphan.platform_metadata = {
            k: v for k, v in orphan.platform_metadata.items() if k != ORPHAN_KEY
        }
        adopted.setdefault(parent_id, []).append(orphan)
    rows_update(
        [o for replies in adopted.values() for o in replies], ["parent", "platform_metadata"]
    )
    return adopted


def _orphan_ids(*, conversation_ids: set, parent_external_ids: set[str]) -> list:
    """The ids of the replies in these conversations that wait for one of these parents.

    One array per list: built by the ORM, the lookup bound and converted each of a
    batch's hundreds of values in Python, 5 ms per batch of 200 (a twelfth of its
    Python time) for a query that finds nothing almost always. Elsewhere than on
    PostgreSQL (the embedded default's SQLite), the ORM's lookup.
    """
    if connection.vendor != "postgresql":
        return list(
            Message.objects.filter(
                conversation_id__in=conversation_ids,
                parent__isnull=True,
                platform_metadata__has_key=ORPHAN_KEY,
                **{f"platform_metadata__{ORPHAN_KEY}__in": list(parent_external_ids)},
            ).values_list("pk", flat=True)
        )
    quote = connection.ops.quote_name
    meta = Message._meta
    metadata = quote(meta.get_field("platform_metadata").column)
    sql = (
        f"SELECT {quote(meta.pk.column)} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.get_field('conversation').column)} = ANY(%s::uuid[]) "
        # msg_awaiting_parent's own condition, so that it serves the query.
        f"AND {quote(meta.get_field('parent').column)} IS NULL AND {metadata} ? %s "
        f"AND ({metadata} ->> %s) = ANY(%s::text[])"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [list(conversation_ids), ORPHAN_KEY, ORPHAN_KEY, list(parent_external_ids)]
        )
        return [row[0] for row in cursor.fetchall()]


def _inbound_validate(*, kind: str, external_id: str) -> None:
    if kind not in KINDS:
        raise InvalidInput("Unknown kind.", details={"kind": [f"One of {', '.join(KINDS)}."]})
    if not external_id:
        raise InvalidInput("An inbound message needs its platform id.")


def messages_by_platform_ids(*, brand_account, external_ids: Iterable[str]) -> QuerySet[Message]:
    """The brand account's messages whose platform ids are among ``external_ids``.

    Read through the ``(brand_account, external_id)`` unique index: its condition
    (``external_id <> ''``) is repeated here because PostgreSQL proves that an ``IN``
    list implies it only up to 100 values. Without it a batch's lookup read every
    message of the account (20,000 rows for 200 ids on the bench data set, 23 ms; 0.3 ms
    with it).
    """
    return Message.objects.filter(
        brand_account=brand_account, external_id__in=external_ids
    ).exclude(external_id="")


@dataclass(frozen=True, kw_only=True)
class InboundMessage:
    """One customer message for ``messages_ingest_inbound_batch``."""

    thread_key: str
    # The author's contact (its id, name, email, phone), the conversation's when it is new.
    contact: dict[str, Any]
    external_id: str
    text: str = ""
    attachments: list = field(default_factory=list)
    received_at: datetime
    kind: str = "direct"
    parent_external_id: str | None = None
    author_name: str = ""
    subject: str = ""
    platform_metadata: dict = field(default_factory=dict)


def messages_ingest_inbound_batch(
    *, brand_account, messages: Sequence[InboundMessage]
) -> list[list[tuple[str, dict]]]:
    """Store many customer messages of one brand account set-based; PostgreSQL only.

    The rules and the event data are those of ``message_ingest_inbound``, applied in
    ``messages`` order to rows held in memory (dicts by attname, not model instances),
    then written in a fixed number of statements whatever the count: one read of the
    external ids already stored (and of the parents), one locked read of the known
    conversations as inbox rows (with their labels), one read of earlier replies waiting
    for one of these messages as their parent, one insert of the new conversations, one
    of the messages, one update of the conversations' inbox columns (and, only if a
    known conversation waits in an auto-assigning team's queue, one read of the teams
    and the round robin's own statements). A reply earlier in the batch than its parent
    is threaded at once. Returns each message's events (none for one already stored), for
    the caller to record in one ``events_record`` with whatever else its batch records.

    Must run inside a savepoint: when another writer made one of the new rows first,
    ``RowsConflict`` is raised and the caller rolls back and takes the per-message path.
    """
    for item in messages:
        _inbound_validate(kind=item.kind, external_id=item.external_id)
    now = timezone.now()
    wanted = {m.external_id for m in messages} | {
        m.parent_external_id for m in messages if m.parent_external_id
    }
    known = dict(
        messages_by_platform_ids(brand_account=brand_account, external_ids=wanted).values_list(
            "external_id", "pk"
        )
    )
    # One new message per external id: the first delivery of it in the batch.
    new: dict[str, InboundMessage] = {}
    for item in messages:
        if item.external_id not in known:
            new.setdefault(item.external_id, item)
    # Rows, not model instances: the inbox's row (the event data's source) and the
    # columns ingest changes, by attname.
    conversations = {
        row["thread_key"]: row
        for row in inbox_rows(
            thread_conversations_locked(
                brand_account=brand_account,
                thread_keys={item.thread_key for item in new.values()},
            )
        )
    }
    created: dict[str, dict] = {}
    for item in new.values():
        if item.thread_key not in conversations:
            contact = item.contact
            conversation = row_new(
                Conversation,
                **_conversation_new_values(
                    brand_account=brand_account,
                    thread_key=item.thread_key,
                    contact_id=contact["id"],
                    kind=item.kind,
                    subject=item.subject,
                    team_id=None,
                    at=item.received_at.astimezone(UTC),
                ),
            )
            conversation.update(
                contact_name=contact["name"],
                contact_email=contact["email"],
                contact_phone=contact["phone"],
                label_ids=[],
            )
            conversations[item.thread_key] = created[item.thread_key] = conversation
    rows = {}
    for external_id, item in new.items():
        conversation = conversations[item.thread_key]
        rows[external_id] = row_new(
            Message,
            **_inbound_message_values(
                conversation_id=conversation["id"],
                contact_id=conversation["contact_id"],
                contact_name=conversation["contact_name"],
                brand_account=brand_account,
                external_id=external_id,
                text=item.text,
                attachments=item.attachments,
                at=item.received_at.astimezone(UTC),
                now=now,
                parent_id=None,
                author_name=item.author_name,
                platform_metadata=dict(item.platform_metadata),
            ),
        )
    adopted = _orphans_adopt(
        [
            (row["conversation_id"], external_id, row["id"])
            for external_id, row in rows.items()
            if new[external_id].thread_key not in created
        ]
    )
    assign = _auto_assign_rows(conversations.values())
    records: list[list[tuple[str, dict]]] = []
    applied: set[str] = set()
    started: set[str] = set()
    for item in messages:
        message = rows.get(item.external_id)
        if message is None or item.external_id in applied:
            records.append([])
            continue
        applied.add(item.external_id)
        parent = item.parent_external_id
        # A parent later in the same batch is threaded too: its row exists by commit.
        message["parent_id"] = known.get(parent) or (rows[parent]["id"] if parent in rows else None)
        if parent and message["parent_id"] is None:
            message["platform_metadata"][ORPHAN_KEY] = parent
        conversation = conversations[item.thread_key]
        first = item.thread_key in created and item.thread_key not in started
        started.add(item.thread_key)
        _inbound_apply_row(conversation, message, conversation_created=first, now=now)
        assign(conversation)
        records.append(
            _inbound_records(
                conversation_row_data(conversation),
                message_row_data(message),
                conversation_created=first,
                adopted=adopted.get(message["id"], []),
            )
        )
    # Keys in a stable order, so that two batches inserting the same keys queue on the
    # unique index in the same order instead of deadlocking.
    rows_insert_new([created[key] for key in sorted(created)], model=Conversation)
    rows_insert_new([rows[key] for key in sorted(rows)], model=Message)
    rows_update(
        [c for key, c in conversations.items() if key not in created],
        INBOUND_COLUMNS,
        model=Conversation,
    )
    return records


def _auto_assign_rows(rows: Iterable[dict]) -> Callable[[dict], None]:
    """``conversation_auto_assign`` for conversation rows: a function to call on a row
    after each message, which assigns it (and sets its ``assignee_id``) if its team's
    round robin takes it. The teams of rows that may need one are read in one query,
    only when there are any.
    """
    team_ids = {row["team_id"] for row in rows if row["team_id"] and row["assignee_id"] is None}
    teams = Team.objects.in_bulk(team_ids) if team_ids else {}

    def assign(row: dict) -> None:
        if row["assignee_id"] is not None or row["team_id"] not in teams:
            return
        conversation = Conversation(id=row["id"], team_id=row["team_id"], status=row["status"])
        conversation.team = teams[row["team_id"]]
        if conversation_auto_assign(conversation=conversation):
            row["assignee_id"] = conversation.assignee_id

    return assign


def _message_updated(message: Message, *, unknown_to_platform: bool = False) -> None:
    # ``message`` is the row locked (``_message_lock``) and saved in this transaction, so
    # its own fields are current: only its reactions and edits are read for the event.
    # A reply the platform has no id for (queued, sending) has neither: reactions and
    # platform edits reach a message by that id, and members edit only private notes.
    if unknown_to_platform:
        data = message_data(message, reactions=(), edits=())
    else:
        prefetch_related_objects([message], "reactions", "edits")
        data = message_data(message)
    events_record(workspace=message.workspace, items=[("message.updated", data)])


def _message_lock(message_id) -> Message:
    # With its workspace only, which its event needs: the event is made of the message's
    # own fields, and the conversation's columns were compiled and read for nothing on
    # each of a send's two status changes.
    return (
        Message.objects.select_for_update(of=("self",))
        .select_related("workspace")
        .get(pk=message_id)
    )


def message_locked(message_id) -> Message | None:
    """The message, locked until the end of the caller's transaction, as a status change
    reads it (``message_status_set(..., locked=True)`` takes it as it is); None if gone."""
    try:
        return _message_lock(message_id)
    except Message.DoesNotExist:
        return None


@transaction.atomic
def message_edit(
    *, message: Message, text: str, edited_at: datetime | None = None, actor: Actor | None = None
) -> Message:
    """Replace a message's text, keeping every earlier text; records ``message.updated``.

    Platform edits come from the adapters; members may edit their own private notes.
    """
    message = _message_lock(message.pk)
    if actor is not None and (
        not message.private or actor.kind != "member" or message.author_id != actor.id
    ):
        raise Forbidden("Only the author of a private note can edit it.")
    if message.deleted_at is not None:
        raise InvalidInput("A deleted message cannot be edited.")
    if text == message.text:
        return message
    at = edited_at or timezone.now()
    MessageEdit.objects.create(
        workspace_id=message.workspace_id, message=message, previous_text=message.text, edited_at=at
    )
    message.text = text
    message.edited_at = at
    message.save(update_fields=["text", "edited_at"])
    _message_updated(message)
    return message


@transaction.atomic
def message_delete(
    *, message: Message, deleted_at: datetime | None = None, actor: Actor | None = None
) -> Message:
    """Mark a message deleted: the row stays, its text is hidden from non-admins."""
    message = _message_lock(message.pk)
    if actor is not None and (
        not message.private or actor.kind != "member" or message.author_id != actor.id
    ):
        raise Forbidden("Only the author of a private note can delete it.")
    if message.deleted_at is not None:
        return message
    message.deleted_at = deleted_at or timezone.now()
    message.save(update_fields=["deleted_at"])
    _message_updated(message)
    return message


@transaction.atomic
def message_restore(*, message: Message) -> Message:
    """Undo a platform deletion (a forum post recovered by its moderators)."""
    message = _message_lock(message.pk)
    if message.deleted_at is None:
        return message
    message.deleted_at = None
    message.save(update_fields=["deleted_at"])
    _message_updated(message)
    return message


@transaction.atomic
def message_platform_metadata_update(*, message: Message, metadata: dict) -> Message:
    """Merge what the platform now says about a message (a comment's moderation status).

    Records ``message.updated`` only when a value changed, so a re-read item is silent.
    """
    message = _message_lock(message.pk)
    merged = {**message.platform_metadata, **metadata}
    if merged == message.platform_metadata:
        return message
    message.platform_metadata = merged
    message.save(update_fields=["platform_metadata"])
    _message_updated(message)
    return message


@transaction.atomic
def reaction_add(
    *, message: Message, reaction: str, author_type: str, author_id: str, author_name: str = ""
) -> Reaction:
    """Record that someone reacted to a message (once per person and reaction)."""
    message = _message_lock(message.pk)
    existing = Reaction.objects.filter(
        message=message, author_type=author_type, author_id=author_id, reaction=reaction
    ).first()
    if existing is not None:
        return existing
    created = Reaction.objects.create(
        workspace_id=message.workspace_id,
        message=message,
        reaction=reaction,
        author_type=author_type,
        author_id=author_id,
        author_name=author_name,
    )
    _message_updated(message)
    return created


@transaction.atomic
def reaction_remove(
    *, message: Message, author_type: str, author_id: str, reaction: str | None = None
) -> int:
    """Remove someone's reaction (``reaction`` None: all of theirs); return how many."""
    message = _message_lock(message.pk)
    reactions = Reaction.objects.filter(
        message=message, author_type=author_type, author_id=author_id
    )
    if reaction is not None:
        reactions = reactions.filter(reaction=reaction)
    removed, _ = reactions.delete()
    if removed:
        _message_updated(message)
    return removed


def message_status_set(
    *,
    message: Message,
    status: str,
    external_id: str | None = None,
    error: dict | None = None,
    at: datetime | None = None,
    locked: bool = False,
) -> Message:
    """Move an outbound message's delivery status on (for the adapters).

    Statuses never go backwards (``read`` stays ``read`` when a late ``delivered``
    arrives); ``failed`` is terminal. Records ``message.updated`` when something changed.
    ``locked``: ``message`` comes from ``message_locked`` in the caller's transaction, so
    it is current and is not read again.
    """
    if status not in MESSAGE_STATUSES:
        raise InvalidInput("Unknown status.", details={"status": [status]})
    # Inside a caller's transaction (a send's claim and record, a receipt's batch) no
    # savepoint of its own: a failure here fails the caller's unit of work, which is what
    # its own block rolls back, and a send saves two round trips per status change.
    with transaction.atomic(savepoint=False):
        return _message_status_move(
            message=message,
            status=status,
            external_id=external_id,
            error=error,
            at=at,
            locked=locked,
        )


def _message_status_move(
    *,
    message: Message,
    status: str,
    external_id: str | None,
    error: dict | None,
    at: datetime | None,
    locked: bool,
) -> Message:
    if not locked:
        message = _message_lock(message.pk)
    if message.status == "failed":
        return message
    unknown_to_platform = not message.external_id and not message.private
    changed = False
    if status == "failed" or STATUS_RANK.get(status, -1) > STATUS_RANK.get(message.status, -1):
        message.status = status
        changed = True
    if status in ("sent", "delivered", "read") and message.sent_at is None:
        message.sent_at = at or timezone.now()
    if external_id and external_id != message.external_id:
        message.external_id = external_id
        changed = True
    if error is not None and status == "failed":
        message.error = error
    if changed:
        message.save(update_fields=["status", "sent_at", "external_id", "error"])
        _message_updated(message, unknown_to_platform=unknown_to_platform)
    return message


def message_get_for_platform(*, brand_account, external_id: str) -> Message:
    """The message the platform knows by ``external_id`` (for edits, receipts, reactions)."""
    message = Message.objects.filter(brand_account=brand_account, external_id=external_id).first()
    if message is None:
        raise NotFound("No such message.")
    return message
