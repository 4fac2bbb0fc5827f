"""Automatic assignment: round robin per team, among available members, under a cap."""

from django.db.models import Count, F
from django.utils import timezone

from crm.models import Membership, Team
from crm.scopes import ROLE_ADMIN, ROLE_AGENT, ROLE_OWNER

from ..models import ACTIVE_STATUSES, Conversation

ASSIGNABLE_ROLES = (ROLE_OWNER, ROLE_ADMIN, ROLE_AGENT)


def team_next_assignee(*, team: Team) -> Membership | None:
    """Lock ``team`` and pick the member who gets its next conversation, or None.

    Round robin in a fixed order (membership creation, then id), starting after the
    member who got the previous one, skipping members who are unavailable or already hold
    ``max_open_per_agent`` open or pending conversations. Precondition: inside a
    transaction, which then holds the team's row lock until it commits: concurrent
    arrivals for one team are assigned one after the other, each seeing the counts the
    previous ones committed, so neither the cap nor the rotation can be raced. The caller
    must assign the conversation in the same transaction and call
    ``team_assignment_advance``.
    """
    team = Team.objects.select_for_update().get(pk=team.pk)
    members = list(
        Membership.objects.filter(
            teams=team, is_available=True, role__in=ASSIGNABLE_ROLES
        ).order_by("created_at", "pk")
    )
    if not members:
        return None
    counts = dict(
        Conversation.objects.filter(
            workspace_id=team.workspace_id,
            assignee__in=members,
            status__in=ACTIVE_STATUSES,
        )
        .values_list("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    start = 0
    ids = [m.pk for m in members]
    if team.last_assigned_member_id in ids:
        start = ids.index(team.last_assigned_member_id) + 1
    cap = team.max_open_per_agent
    for offset in range(len(members)):
        member = members[(start + offset) % len(members)]
        if cap is None or counts.get(member.pk, 0) < cap:
            return member
    return None


def team_assignment_advance(*, team: Team, member: Membership) -> None:
    """Record that ``member`` got the team's latest conversation (caller holds the lock)."""
    Team.objects.filter(pk=team.pk).update(last_assigned_member=member)


def conversation_auto_assign(*, conversation: Conversation) -> bool:
    """Assign an unassigned, open conversation of an auto-assigning team, if anyone can take it.

    Changes ``conversation`` in memory and saves the assignee; returns whether it did.
    The caller holds the conversation's row lock and records the event.
    """
    if (
        conversation.assignee_id is not None
        or conversation.team_id is None
        or conversation.status not in ACTIVE_STATUSES
    ):
        return False
    team = conversation.team
    if team is None or not team.auto_assign:
        return False
    member = team_next_assignee(team=team)
    if member is None:
        return False  # everyone is away or full: the conversation waits in the team queue
    conversation.assignee = member
    Conversation.objects.filter(pk=conversation.pk).update(assignee=member)
    team_assignment_advance(team=team, member=member)
    return True


def team_queue_drain(*, team: Team, limit: int = 20) -> list:
    """Give the team's queued (unassigned, open or pending) conversations to free members.

    Called when places may have freed up (a conversation resolved, snoozed or handed
    over). The customer waiting longest goes first. Returns the ids it assigned; the
    caller records their events. Rows another transaction holds are skipped
    (``skip_locked``): this runs with the team's lock held, and an ingest holding a
    conversation may be waiting for that lock, so waiting here could deadlock; a skipped
    conversation is assigned by its own transaction.
    """
    if not team.auto_assign:
        return []
    assigned = []
    for _ in range(limit):
        member = team_next_assignee(team=team)
        if member is None:
            break
        queued = (
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                workspace_id=team.workspace_id,
                team=team,
                assignee__isnull=True,
                status__in=ACTIVE_STATUSES,
            )
            .order_by(F("waiting_since").asc(nulls_last=True), "created_at", "pk")
            .first()
        )
        if queued is None:
            break
        Conversation.objects.filter(pk=queued.pk).update(assignee=member, updated_at=timezone.now())
        team_assignment_advance(team=team, member=member)
        assigned.append(queued.pk)
    return assigned


def team_queues_drain_all(*, limit_per_team: int = 50) -> int:
    """Assign queued conversations of every auto-assigning team; return how many.

    Run by Celery beat, so that places freed outside the conversation workflow (a member
    back from a break, a cap raised) are used within a minute. One transaction per team.
    """
    from django.db import transaction

    team_ids = (
        Conversation.objects.filter(
            assignee__isnull=True, status__in=ACTIVE_STATUSES, team__auto_assign=True
        )
        .values_list("team_id", flat=True)
        .distinct()
    )
    assigned = 0
    for team in Team.objects.filter(pk__in=list(team_ids)).select_related("workspace"):
        with transaction.atomic():
            ids = team_queue_drain(team=team, limit=limit_per_team)
            if ids:
                _record_assigned(team=team, conversation_ids=ids)
            assigned += len(ids)
    return assigned


def _record_assigned(*, team: Team, conversation_ids: list) -> None:
    from crm.services.events import events_record

    from ..representations import conversation_data

    fresh = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=conversation_ids)
        .select_related("contact")
        .prefetch_related("labels")
    }
    events_record(
        workspace=team.workspace,
        items=[("conversation.updated", conversation_data(fresh[pk])) for pk in conversation_ids],
    )
