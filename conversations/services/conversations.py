"""The conversation workflow: status, priority, assignee, team, labels, snooze, bulk."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import InvalidInput, NotFound
from crm.models import Membership, Team, Workspace
from crm.services.events import events_record

from ..models import (
    KINDS,
    PRIORITIES,
    STATUS_OPEN,
    STATUS_RESOLVED,
    STATUS_SNOOZED,
    STATUSES,
    Conversation,
    Label,
)
from ..representations import conversation_data
from ..selectors import conversation_visibility
from ..sla import business_seconds
from .assignment import conversation_auto_assign, team_queue_drain

UNSET: Any = object()
BULK_LIMIT = 500


@dataclass
class ConversationChanges:
    """One change to apply to one or many conversations; UNSET fields stay as they are."""

    status: Any = UNSET
    priority: Any = UNSET
    assignee: Any = UNSET  # Membership | None
    team: Any = UNSET  # Team | None
    labels: Any = UNSET  # list[Label], replaces the set
    add_labels: list[Label] = field(default_factory=list)
    remove_labels: list[Label] = field(default_factory=list)
    snoozed_until: Any = UNSET  # datetime | None
    mark_read: bool = False

    def validate(self, *, now: datetime) -> None:
        problems: dict[str, list[str]] = {}
        if self.status is not UNSET and self.status not in STATUSES:
            problems["status"] = [f"One of {', '.join(STATUSES)}."]
        if self.priority is not UNSET and self.priority not in PRIORITIES:
            problems["priority"] = [f"One of {', '.join(PRIORITIES)}."]
        if self.snoozed_until not in (UNSET, None) and self.snoozed_until <= now:
            problems["snoozed_until"] = ["Must be in the future."]
        if self.status == STATUS_SNOOZED and self.snoozed_until in (UNSET, None):
            problems["snoozed_until"] = ["A snoozed conversation needs snoozed_until."]
        if self.status not in (UNSET, STATUS_SNOOZED) and self.snoozed_until not in (UNSET, None):
            problems["snoozed_until"] = ["Only a snoozed conversation has snoozed_until."]
        if problems:
            raise InvalidInput("The change is invalid.", details=problems)


def _status_set(conversation: Conversation, status: str, *, now: datetime) -> None:
    previous = conversation.status
    if status == previous:
        return
    conversation.status = status
    if status != STATUS_SNOOZED:
        conversation.snoozed_until = None
    if status == STATUS_RESOLVED:
        conversation.resolved_at = now
        # Resolution time runs from the first customer message (or the conversation's
        # start) to the latest resolution, in business hours.
        conversation.resolution_seconds = business_seconds(
            workspace=conversation.workspace, start=conversation.created_at, end=now
        )
        conversation.waiting_since = None
    elif previous == STATUS_RESOLVED:
        conversation.reopened_count += 1
        conversation.resolved_at = None


def _apply(conversation: Conversation, changes: ConversationChanges, *, now: datetime) -> bool:
    """Apply ``changes`` to a locked conversation; return whether anything changed."""
    before = conversation_fingerprint(conversation)
    if changes.snoozed_until not in (UNSET, None):
        _status_set(conversation, STATUS_SNOOZED, now=now)
        conversation.snoozed_until = changes.snoozed_until
    if changes.status is not UNSET:
        _status_set(conversation, changes.status, now=now)
    elif changes.snoozed_until is None and conversation.status == STATUS_SNOOZED:
        _status_set(conversation, STATUS_OPEN, now=now)  # un-snoozing by clearing the time
    if changes.priority is not UNSET:
        conversation.priority = changes.priority
    if changes.team is not UNSET:
        conversation.team = changes.team
    if changes.assignee is not UNSET:
        conversation.assignee = changes.assignee
    if changes.mark_read:
        conversation.unread_count = 0
    labels_changed = False
    current = {label.pk: label for label in conversation.labels.all()}
    wanted = dict(current)
    if changes.labels is not UNSET:
        wanted = {label.pk: label for label in changes.labels}
    for label in changes.add_labels:
        wanted[label.pk] = label
    for label in changes.remove_labels:
        wanted.pop(label.pk, None)
    if set(wanted) != set(current):
        conversation.labels.set(list(wanted.values()))
        labels_changed = True
    changed = labels_changed or conversation_fingerprint(conversation) != before
    if changed:
        conversation.updated_at = now
        conversation.save()
        # A conversation newly routed to a team (or reopened without an agent) is handed
        # to the team's round robin unless someone was named in the same change.
        if changes.assignee is UNSET:
            conversation_auto_assign(conversation=conversation)
    return changed


def conversation_fingerprint(conversation: Conversation) -> tuple:
    return (
        conversation.status,
        conversation.priority,
        conversation.assignee_id,
        conversation.team_id,
        conversation.snoozed_until,
        conversation.unread_count,
    )


def _lock(workspace: Workspace, ids: Sequence) -> list[Conversation]:
    # Locks in id order, so two bulk changes over overlapping sets cannot deadlock.
    return list(
        Conversation.objects.select_for_update(of=("self",))
        .select_related("workspace", "team")
        .filter(workspace=workspace, pk__in=ids)
        .order_by("pk")
    )


def _drain_teams(conversations: Sequence[Conversation]) -> list:
    """Let auto-assigning teams of changed conversations hand out freed places."""
    drained: list = []
    teams = {c.team_id: c.team for c in conversations if c.team_id and c.team.auto_assign}
    for _, team in sorted(teams.items(), key=lambda item: str(item[0])):
        drained.extend(team_queue_drain(team=team))
    return drained


def _event_data(conversations: Sequence, extra_ids: Sequence = ()) -> list[tuple[str, dict]]:
    ids = list(dict.fromkeys([c.pk for c in conversations] + list(extra_ids)))
    fresh = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=ids)
        .select_related("contact")
        .prefetch_related("labels")
    }
    # In the order of the changes: the changed conversations, then those assigned after.
    return [("conversation.updated", conversation_data(fresh[pk])) for pk in ids]


@transaction.atomic
def conversation_update(
    *, actor: Actor, conversation: Conversation, changes: ConversationChanges
) -> Conversation:
    """Change one conversation's workflow state and record ``conversation.updated``.

    Resolving starts the resolution clock's reading; snoozing needs a future
    ``snoozed_until``; setting ``snoozed_until`` alone snoozes; clearing it wakes.
    """
    now = timezone.now()
    changes.validate(now=now)
    (locked,) = _lock(actor.workspace, [conversation.pk]) or [None]
    if locked is None:
        raise NotFound("No such conversation.")
    if _apply(locked, changes, now=now):
        drained = _drain_teams([locked])
        events_record(workspace=actor.workspace, items=_event_data([locked], drained))
    return locked


@transaction.atomic
def conversations_bulk_update(
    *, actor: Actor, conversation_ids: Sequence, changes: ConversationChanges
) -> list[Conversation]:
    """Apply one change to many conversations, all or nothing.

    Every id must name a conversation ``actor`` may see; otherwise nothing changes and
    NotFound lists the unknown ids. Events are recorded in one batch.
    """
    ids = list(dict.fromkeys(str(i) for i in conversation_ids))
    if not ids:
        raise InvalidInput("No conversations given.", details={"ids": ["At least one id."]})
    if len(ids) > BULK_LIMIT:
        raise InvalidInput(
            f"At most {BULK_LIMIT} conversations per change.",
            details={"ids": [f"At most {BULK_LIMIT} ids."]},
        )
    now = timezone.now()
    changes.validate(now=now)
    visible = {
        str(pk)
        for pk in Conversation.objects.filter(workspace=actor.workspace, pk__in=ids)
        .filter(conversation_visibility(actor))
        .values_list("pk", flat=True)
    }
    missing = [i for i in ids if i not in visible]
    if missing:
        raise NotFound("Some conversations do not exist.", details={"ids": missing})
    locked = _lock(actor.workspace, ids)
    changed = [c for c in locked if _apply(c, changes, now=now)]
    drained = _drain_teams(changed)
    events_record(workspace=actor.workspace, items=_event_data(changed, drained))
    return locked


@transaction.atomic
def conversation_create(
    *,
    actor: Actor,
    contact,
    platform: str,
    kind: str = "direct",
    brand_account=None,
    thread_key: str = "",
    subject: str = "",
    team: Team | None = None,
    assignee: Membership | None = None,
) -> Conversation:
    """Start a conversation by hand (an outbound first message, or an import).

    Platform threads arrive through ``message_ingest_inbound`` instead, which finds or
    creates the conversation of a thread key.
    """
    if kind not in KINDS:
        raise InvalidInput("Unknown kind.", details={"kind": [f"One of {', '.join(KINDS)}."]})
    if contact.workspace_id != actor.workspace.pk:
        raise NotFound("No such contact.")
    now = timezone.now()
    conversation = Conversation.objects.create(
        workspace=actor.workspace,
        contact=contact,
        brand_account=brand_account,
        platform=brand_account.platform if brand_account else platform,
        kind=kind,
        thread_key=thread_key,
        subject=subject,
        team=team,
        assignee=assignee,
        last_message_at=now,
        created_at=now,
        updated_at=now,
    )
    conversation_auto_assign(conversation=conversation)
    events_record(
        workspace=actor.workspace,
        items=[("conversation.created", conversation_data(_reload(conversation)))],
    )
    return conversation


def _reload(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_related("contact", "workspace")
        .prefetch_related("labels")
        .get(pk=conversation.pk)
    )


def conversations_wake_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Reopen snoozed conversations whose ``snoozed_until`` has passed; return how many.

    Run by Celery beat. Each workspace's batch is one transaction; rows another worker
    holds are skipped (``skip_locked``) and picked up by the next run, so overlapping
    runs neither block nor wake a conversation twice.
    """
    now = now or timezone.now()
    woken = 0
    workspace_ids = list(
        Conversation.objects.filter(status=STATUS_SNOOZED, snoozed_until__lte=now)
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    for workspace in Workspace.objects.filter(pk__in=workspace_ids):
        with transaction.atomic():
            due = list(
                Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("workspace", "team")
                .filter(workspace=workspace, status=STATUS_SNOOZED, snoozed_until__lte=now)
                .order_by("snoozed_until", "pk")[:batch]
            )
            for conversation in due:
                _status_set(conversation, STATUS_OPEN, now=now)
                conversation.updated_at = now
                conversation.save()
                conversation_auto_assign(conversation=conversation)
            events_record(workspace=workspace, items=_event_data(due))
            woken += len(due)
    return woken
