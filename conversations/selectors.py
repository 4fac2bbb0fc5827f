"""Reads of the conversations app: the inbox, a conversation, its messages, labels.

Every read takes the ``Actor`` and applies what it may see (``conversation_visibility``),
so that lists, details, timelines, search and event filtering agree.
"""

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
)

from crm.actors import Actor
from crm.exceptions import InvalidInput, NotFound
from crm.models import Membership, Team
from crm.scopes import ROLE_ADMIN, ROLE_AGENT, ROLE_OWNER

from .models import (
    STATUS_OPEN,
    CannedResponse,
    Conversation,
    Label,
    Message,
    MessageEdit,
    Reaction,
)
from .representations import CONVERSATION_ROW_COLUMNS

SEARCH_CONFIGS = ("english", "french")


def actor_sees_all_conversations(actor: Actor) -> bool:
    """Whether the workspace's team restriction leaves this actor unrestricted."""
    return not (
        actor.membership is not None
        and actor.role == ROLE_AGENT
        and actor.workspace.agents_see_only_their_teams
    )


def actor_is_admin(actor: Actor) -> bool:
    """Owners, admins and API keys with the admin scope (they see deleted messages' text)."""
    if actor.membership is not None:
        return actor.role in (ROLE_OWNER, ROLE_ADMIN)
    return actor.has_scope("admin")


def conversation_visibility(actor: Actor) -> Q:
    """The conversations ``actor`` may see, as a filter.

    With ``agents_see_only_their_teams`` on, an agent sees the conversations of the teams
    it belongs to (assigned to anyone or to nobody) and the ones assigned to it. Everyone
    else in the workspace (admins, sales, viewers, API keys) reads every conversation.
    """
    if actor_sees_all_conversations(actor):
        return Q()
    my_teams = Team.objects.filter(members=actor.membership).values("pk")
    return Q(team_id__in=my_teams) | Q(assignee_id=actor.membership.pk)


def conversation_visible_to(actor: Actor, conversation: Conversation) -> bool:
    """``conversation_visibility`` for one loaded row (for event and realtime filtering)."""
    if conversation.workspace_id != actor.workspace.pk:
        return False
    if actor_sees_all_conversations(actor):
        return True
    if conversation.assignee_id == actor.membership.pk:
        return True
    return (
        conversation.team_id is not None
        and Team.members.through.objects.filter(
            team_id=conversation.team_id, membership_id=actor.membership.pk
        ).exists()
    )


def event_visible_to(actor: Actor, event_type: str, data: dict[str, Any]) -> bool:
    """Whether a ``conversation.*``/``message.*`` event's data may reach ``actor``.

    For the event log reader and the realtime consumer: they apply the same visibility as
    the REST API (one query per event, only for restricted agents).
    """
    if actor_sees_all_conversations(actor):
        return True
    if event_type.startswith("conversation."):
        conversation_id = data.get("id")
    elif event_type.startswith("message."):
        conversation_id = data.get("conversation")
    else:
        return True
    return (
        Conversation.objects.filter(workspace=actor.workspace, pk=conversation_id)
        .filter(conversation_visibility(actor))
        .exists()
    )


def _visible(queryset: QuerySet, actor: Actor) -> QuerySet:
    """``queryset`` narrowed to the conversations ``actor`` may see."""
    return queryset.filter(workspace=actor.workspace).filter(conversation_visibility(actor))


def _base(actor: Actor) -> QuerySet[Conversation]:
    return (
        _visible(Conversation.objects, actor).select_related("contact").prefetch_related("labels")
    )


def thread_conversations_locked(*, brand_account, thread_keys) -> QuerySet[Conversation]:
    """The brand account's conversations of these platform threads, locked until commit
    (``FOR UPDATE`` of the conversation rows only), in primary-key order: every writer
    that locks threads in a batch takes them in this one order."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .filter(
            workspace_id=brand_account.workspace_id,
            brand_account=brand_account,
            thread_key__in=thread_keys,
        )
        # The unique index's own condition, so that it serves a list of over 100 keys
        # (see ``messages_by_platform_ids``).
        .exclude(thread_key="")
        .order_by("pk")
    )


class _TextMatches(Func):
    """``(tsvector_en || tsvector_fr) @@ (tsquery_en || tsquery_fr)`` over unaccented text.

    The same expression as the ``msg_text_search`` index of migration 0002, so that the
    planner can use it. A word matches when its English or its French stem does.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, query: str):
        super().__init__(expression)
        self.query = query

    def as_sql(self, compiler, connection, **extra):
        text_sql, params = compiler.compile(self.source_expressions[0])
        vector = " || ".join(
            f"to_tsvector('{c}'::regconfig, causerie_unaccent({text_sql}))" for c in SEARCH_CONFIGS
        )
        query = " || ".join(
            f"plainto_tsquery('{c}'::regconfig, causerie_unaccent(%s))" for c in SEARCH_CONFIGS
        )
        all_params = list(params) * len(SEARCH_CONFIGS) + [self.query] * len(SEARCH_CONFIGS)
        return f"(({vector}) @@ ({query}))", all_params


def _message_search(q: str) -> QuerySet[Message]:
    messages = Message.objects.filter(conversation=OuterRef("pk"), deleted_at__isnull=True)
    if connection.vendor == "postgresql":
        return messages.filter(_TextMatches(F("text"), q))
    # The embedded SQLite default: every word must appear, ignoring case and accents
    # (causerie_unaccent is registered by the app on each SQLite connection).
    from .apps import fold

    messages = messages.annotate(
        folded_text=Func(F("text"), function="causerie_unaccent", output_field=TextField())
    )
    for word in q.split():
        messages = messages.filter(folded_text__contains=fold(word))
    return messages


def _parse_uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInput(
            f"{name} is an id.", details={name: [f"{value!r} is not a valid id."]}
        ) from exc


def conversation_list(
    *,
    actor: Actor,
    status: list[str] | None = None,
    assignee: str | None = None,
    team: str | None = None,
    label: str | None = None,
    platform: list[str] | None = None,
    brand_account: str | None = None,
    kind: list[str] | None = None,
    priority: list[str] | None = None,
    contact: str | None = None,
    q: str | None = None,
    updated_after: datetime | None = None,
    rows: bool = False,
) -> QuerySet:
    """The inbox: the conversations ``actor`` may see, filtered (unordered; see sorts).

    ``assignee`` is a member id, ``me`` or ``none``; ``team`` an id or ``none``;
    ``label`` an id or a name; ``q`` searches message text (full text on PostgreSQL).
    With ``rows``, as inbox rows (``inbox_rows``) instead of model instances.
    """
    queryset = _base_rows(actor) if rows else _base(actor)
    if status:
        queryset = queryset.filter(status__in=status)
    if assignee:
        if assignee == "none":
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee == "me":
            member_id = actor.membership.pk if actor.membership else None
            queryset = queryset.filter(assignee_id=member_id) if member_id else queryset.none()
        else:
            queryset = queryset.filter(assignee_id=_parse_uuid(assignee, "assignee"))
    if team:
        if team == "none":
            queryset = queryset.filter(team__isnull=True)
        else:
            queryset = queryset.filter(team_id=_parse_uuid(team, "team"))
    if label:
        try:
            label_id = uuid.UUID(label)
        except ValueError:
            labels = Label.objects.filter(workspace=actor.workspace, name=label).values("pk")
        else:
            labels = Label.objects.filter(workspace=actor.workspace, pk=label_id).values("pk")
        queryset = queryset.filter(
            Exists(
                Conversation.labels.through.objects.filter(
                    conversation_id=OuterRef("pk"), label_id__in=labels
                )
            )
        )
    if platform:
        queryset = queryset.filter(platform__in=platform)
    if brand_account:
        queryset = queryset.filter(brand_account_id=_parse_uuid(brand_account, "brand_account"))
    if kind:
        queryset = queryset.filter(kind__in=kind)
    if priority:
        queryset = queryset.filter(priority__in=priority)
    if contact:
        queryset = queryset.filter(contact_id=_parse_uuid(contact, "contact"))
    if updated_after:
        queryset = queryset.filter(updated_at__gt=updated_after)
    if q and q.strip():
        queryset = queryset.filter(Exists(_message_search(q.strip())))
    return queryset


def inbox_rows(queryset: QuerySet[Conversation]) -> QuerySet:
    """``queryset`` as inbox rows (``representations.conversation_row_data``).

    Plain values, not model instances: the contact's columns joined and, on PostgreSQL, the
    label ids as an ``ARRAY(...)`` in the same query, so that a page is one query and no
    objects are built for it (building them was most of a page's cost). Elsewhere the
    label ids come from one query on the labels table for the page.
    """
    rows = queryset.prefetch_related(None).values(
        *CONVERSATION_ROW_COLUMNS,
        contact_name=F("contact__name"),
        contact_email=F("contact__email"),
        contact_phone=F("contact__phone"),
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        labels = Conversation.labels.through.objects.filter(conversation_id=OuterRef("pk"))
        return rows.annotate(label_ids=ArraySubquery(labels.values("label_id")))
    return rows


@cache
def _all_inbox_rows() -> QuerySet:
    # Selecting the row's 34 columns and the labels' subquery cost 0.75 ms of CPU per
    # inbox page, the same every time: built once per process, each page filters a copy.
    # A queryset is never changed in place by filtering, and this one is never evaluated
    # (Django's class-based views share their ``queryset`` attribute the same way).
    return inbox_rows(Conversation.objects.all())


def _base_rows(actor: Actor) -> QuerySet:
    """``_base`` as inbox rows: the same conditions on the same query."""
    return _visible(_all_inbox_rows(), actor)


def inbox_rows_complete(rows: list[dict]) -> list[dict]:
    """The page's rows with their ``label_ids`` (already there on PostgreSQL)."""
    if not rows or "label_ids" in rows[0]:
        return rows
    links = Conversation.labels.through.objects.filter(
        conversation_id__in=[row["id"] for row in rows]
    ).values_list("conversation_id", "label_id")
    by_conversation: dict = {}
    for conversation_id, label_id in links:
        by_conversation.setdefault(conversation_id, []).append(label_id)
    return [{**row, "label_ids": by_conversation.get(row["id"], [])} for row in rows]


def inbox_sort_for(*, status: list[str] | None, sort: str | None) -> tuple[str, bool]:
    """The sort column and direction: ``waiting`` (longest first) or ``recent`` activity.

    Without an explicit ``sort``, a list of open conversations only is ``waiting``, any
    other list ``recent``.
    """
    if sort is None:
        sort = "waiting" if status == [STATUS_OPEN] else "recent"
    if sort == "waiting":
        return "waiting_since", False
    return "last_message_at", True


def conversation_get(*, actor: Actor, conversation_id, with_labels: bool = True) -> Conversation:
    """One conversation ``actor`` may see, or NotFound (never a hint that it exists).

    ``with_labels=False`` when only the conversation's messages are read: its labels are
    then not fetched (one query less).
    """
    try:
        pk = uuid.UUID(str(conversation_id))
    except ValueError as exc:
        raise NotFound("No such conversation.") from exc
    queryset = _base(actor) if with_labels else _base(actor).prefetch_related(None)
    conversation = queryset.filter(pk=pk).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversations_after_change(*, actor: Actor, conversation_ids) -> list[Conversation]:
    """Conversations ``actor`` just changed, in the given order, whatever their visibility.

    Only for answering the change itself: a change may move a conversation out of the
    actor's sight (another team), and the answer still shows what the change did.
    """
    rows = {
        c.pk: c
        for c in Conversation.objects.filter(workspace=actor.workspace, pk__in=conversation_ids)
        .select_related("contact")
        .prefetch_related("labels")
    }
    return [rows[pk] for pk in conversation_ids if pk in rows]


def message_list(*, actor: Actor, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages and private notes (callers check visibility first);
    ``messages_complete`` adds a page's reactions and edits."""
    return Message.objects.filter(workspace=actor.workspace, conversation=conversation)


def messages_complete(messages: list[Message]) -> list[Message]:
    """``messages`` with their reactions and edits as plain lists of rows
    (``reaction_list``, ``edit_list``, which ``message_data`` reads): two queries
    whatever the page's size.

    Rows, not model instances: Django's prefetch built a model instance per reaction and
    edit and a filtered queryset per message, about 40 % of a page of 50 messages.
    """
    if not messages:
        return messages
    ids = [message.pk for message in messages]
    reactions: dict = {}
    for reaction in Reaction.objects.filter(message_id__in=ids).values_list(
        "message_id",
        "pk",
        "reaction",
        "author_type",
        "author_id",
        "author_name",
        "created_at",
        named=True,
    ):
        reactions.setdefault(reaction.message_id, []).append(reaction)
    edits: dict = {}
    for edit in MessageEdit.objects.filter(message_id__in=ids).values_list(
        "message_id", "pk", "previous_text", "edited_at", named=True
    ):
        edits.setdefault(edit.message_id, []).append(edit)
    for message in messages:
        message.reaction_list = reactions.get(message.pk, [])
        message.edit_list = edits.get(message.pk, [])
    return messages


def message_get(*, actor: Actor, conversation: Conversation, message_id) -> Message:
    """One message of a conversation the caller already fetched for ``actor``, or NotFound."""
    try:
        pk = uuid.UUID(str(message_id))
    except ValueError as exc:
        raise NotFound("No such message.") from exc
    message = message_list(actor=actor, conversation=conversation).filter(pk=pk).first()
    if message is None:
        raise NotFound("No such message.")
    return messages_complete([message])[0]


def label_list(*, actor: Actor) -> QuerySet[Label]:
    """The workspace's labels."""
    return Label.objects.filter(workspace=actor.workspace)


def label_get(*, actor: Actor, label_id) -> Label:
    """One label of the workspace, or NotFound."""
    label = label_list(actor=actor).filter(pk=label_id).first()
    if label is None:
        raise NotFound("No such label.")
    return label


def canned_response_list(*, actor: Actor) -> QuerySet[CannedResponse]:
    """The workspace's canned responses."""
    return CannedResponse.objects.filter(workspace=actor.workspace)


def canned_response_get(*, actor: Actor, canned_response_id) -> CannedResponse:
    """One canned response of the workspace, or NotFound."""
    canned = canned_response_list(actor=actor).filter(pk=canned_response_id).first()
    if canned is None:
        raise NotFound("No such canned response.")
    return canned


def assignable_member_get(*, actor: Actor, member_id) -> Membership:
    """A member who may be given conversations (owners, admins, agents), or InvalidInput."""
    member = Membership.objects.filter(workspace=actor.workspace, pk=member_id).first()
    if member is None:
        raise InvalidInput("No such member.", details={"assignee": ["Unknown member."]})
    if member.role not in (ROLE_OWNER, ROLE_ADMIN, ROLE_AGENT):
        raise InvalidInput(
            "Only owners, admins and agents answer conversations.",
            details={"assignee": [f"A {member.role} cannot be assigned conversations."]},
        )
    return member
