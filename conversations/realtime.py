"""What the realtime inbox (and the event log reader) lets each member see, and replay.

``EventFilter`` applies, event by event, the rules the REST API applies to the resources
in ``data``: the credential's scopes by event type (as ``crm.selectors.event_list_after``),
the workspace's team visibility for ``conversation.*`` and ``message.*`` (as
``conversation_visibility``), and, on the websocket, private notes to members only.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from crm.actors import Actor
from crm.models import Event, EventSequence, Team
from crm.selectors import EVENT_TYPE_SCOPES, event_types_visible_prefixes
from crm.services.events import event_envelope

from .models import Conversation
from .selectors import actor_sees_all_conversations, conversation_visibility

# A restricted agent's team list is re-read this often, so that joining or leaving a team
# takes effect on open connections without a query per event.
TEAMS_REFRESH_SECONDS = 30.0
# How many conversations' visibility a connection remembers (learned from their events).
KNOWN_CONVERSATIONS_MAX = 5000


def realtime_setting(name: str, default: Any) -> Any:
    """A ``CAUSERIE_REALTIME_*``/``CAUSERIE_EVENT*`` setting, with its documented default."""
    return getattr(settings, name, default)


class EventFilter:
    """Decides, for one actor, whether an event envelope may reach it.

    For actors who see every conversation no query is ever made. For agents restricted
    to their teams, conversation events are decided from their ``data`` (team, assignee)
    and remembered, so that the message events that follow need no query either.
    """

    def __init__(self, actor: Actor, *, private_notes_to_members_only: bool = False):
        self.actor = actor
        self.private_notes_to_members_only = private_notes_to_members_only
        prefixes = event_types_visible_prefixes(actor=actor)
        self._all_types = len(prefixes) == len(EVENT_TYPE_SCOPES)
        self._prefixes = frozenset(prefixes)
        self.restricted = not actor_sees_all_conversations(actor)
        self._member_id = str(actor.membership.pk) if actor.membership is not None else None
        self._teams: frozenset[str] = frozenset()
        self._teams_read_at = 0.0
        self._known: dict[str, bool] = {}
        if self.restricted:
            self.refresh_teams()

    def refresh_teams(self) -> None:
        """Re-read the restricted agent's teams (a query)."""
        self.teams_set(self.teams_read())

    def teams_read(self) -> frozenset[str]:
        """The restricted agent's teams now (a query); ``teams_set`` applies them."""
        return frozenset(
            str(pk)
            for pk in Team.objects.filter(members=self.actor.membership).values_list(
                "pk", flat=True
            )
        )

    def teams_set(self, teams: frozenset[str]) -> None:
        """Decide from these teams from now on (what was learned from events is dropped)."""
        self._teams = teams
        self._teams_read_at = time.monotonic()
        self._known.clear()

    def _type_allowed(self, event_type: str) -> bool:
        if self._all_types:
            return True
        return event_type.partition(".")[0] in self._prefixes

    def _remember(self, conversation_id: str, visible: bool) -> None:
        if len(self._known) >= KNOWN_CONVERSATIONS_MAX:
            self._known.pop(next(iter(self._known)))
        self._known[conversation_id] = visible

    def _conversation_data_visible(self, data: dict[str, Any]) -> bool:
        return (data.get("team") in self._teams) or (
            data.get("assignee") is not None and data.get("assignee") == self._member_id
        )

    def decide_without_query(self, event_type: str, data: dict[str, Any]) -> bool | None:
        """The decision if it needs no database read, else None (call ``visible``)."""
        if not self._type_allowed(event_type):
            return False
        kind = event_type.partition(".")[0]
        if (
            kind == "message"
            and self.private_notes_to_members_only
            and data.get("private")
            and self._member_id is None
        ):
            return False
        if not self.restricted or kind not in ("conversation", "message"):
            return True
        if kind == "conversation":
            visible = self._conversation_data_visible(data)
            self._remember(str(data.get("id")), visible)
            return visible
        return self._known.get(str(data.get("conversation")))

    def conversation_visible(self, conversation_id: str) -> bool:
        """Whether the actor may see a conversation (a query when not already known)."""
        if not self.restricted:
            return True
        conversation_id = str(conversation_id)
        if conversation_id in self._known:
            return self._known[conversation_id]
        visible = (
            Conversation.objects.filter(workspace=self.actor.workspace, pk=conversation_id)
            .filter(conversation_visibility(self.actor))
            .exists()
        )
        self._remember(conversation_id, visible)
        return visible

    def visible(self, event_type: str, data: dict[str, Any]) -> bool:
        """Whether an event may reach the actor (may read the database)."""
        if self.restricted and time.monotonic() - self._teams_read_at > TEAMS_REFRESH_SECONDS:
            self.refresh_teams()
        decided = self.decide_without_query(event_type, data)
        if decided is not None:
            return decided
        return self.conversation_visible(str(data.get("conversation")))


@dataclass(frozen=True)
class VisibleEvents:
    """A page of the event log as one actor sees it."""

    events: list[Event]
    # Resume after this seq for the next page (it skips what the actor may not see).
    next_after: int
    has_more: bool


def events_visible_after(
    *, actor: Actor, after: int, limit: int, scan_limit: int = 2000
) -> VisibleEvents:
    """Up to ``limit`` events after ``after`` that ``actor`` may see, in ``seq`` order.

    Reads at most ``scan_limit`` rows, so that a reader who may see little of a busy log
    still gets an answer quickly, with ``has_more`` and where to resume.
    """
    event_filter = EventFilter(actor)
    found: list[Event] = []
    rows = list(
        Event.objects.filter(workspace=actor.workspace, seq__gt=after).order_by("seq")[:scan_limit]
    )
    for event in rows:
        if event_filter.visible(event.type, event.data):
            found.append(event)
            if len(found) == limit:
                more = event is not rows[-1] or len(rows) == scan_limit
                return VisibleEvents(found, next_after=event.seq, has_more=more)
    last = rows[-1].seq if rows else after
    return VisibleEvents(found, next_after=last, has_more=len(rows) == scan_limit)


def event_log_last_seq(*, workspace_id) -> int:
    """The last ``seq`` handed out in a workspace (0 before any event)."""
    return (
        EventSequence.objects.filter(workspace_id=workspace_id)
        .values_list("last_seq", flat=True)
        .first()
        or 0
    )


def event_log_page(*, workspace, after: int, until: int | None, limit: int) -> list[dict]:
    """Envelopes of every event after ``after`` (up to ``until``), unfiltered, in order."""
    queryset = Event.objects.filter(workspace=workspace, seq__gt=after)
    if until is not None:
        queryset = queryset.filter(seq__lte=until)
    return [
        event_envelope(event, workspace_slug=workspace.slug)
        for event in queryset.order_by("seq")[:limit]
    ]


@dataclass(frozen=True)
class SubscriptionStart:
    """Where a subscription starts: ``after`` to replay from, or a resync ``reason``."""

    after: int
    last_seq: int
    resync_reason: str | None = None


def subscription_start(*, workspace, after: int | None) -> SubscriptionStart:
    """Check that the log still holds everything after ``after`` (None: from now on).

    A client is told to resync when ``after`` is ahead of the log (another database, a
    restored backup), when the events right after it were pruned (older than
    ``CAUSERIE_EVENT_RETENTION``), or when it is more than ``CAUSERIE_REALTIME_MAX_REPLAY``
    events behind: reloading through the REST API is then cheaper than replaying.
    """
    last_seq = event_log_last_seq(workspace_id=workspace.pk)
    if after is None:
        return SubscriptionStart(after=last_seq, last_seq=last_seq)
    if after > last_seq:
        return SubscriptionStart(after=after, last_seq=last_seq, resync_reason="ahead_of_log")
    if after == last_seq:
        return SubscriptionStart(after=after, last_seq=last_seq)
    if last_seq - after > realtime_setting("CAUSERIE_REALTIME_MAX_REPLAY", 10_000):
        return SubscriptionStart(after=after, last_seq=last_seq, resync_reason="too_far_behind")
    first = (
        Event.objects.filter(workspace=workspace, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "occurred_at")
        .first()
    )
    retention = realtime_setting("CAUSERIE_EVENT_RETENTION", timedelta(days=30))
    if first is None or first[0] != after + 1:
        return SubscriptionStart(after=after, last_seq=last_seq, resync_reason="beyond_retention")
    if first[1] < timezone.now() - retention:
        # Still stored, but past retention: it may vanish mid-replay, so start afresh.
        return SubscriptionStart(after=after, last_seq=last_seq, resync_reason="beyond_retention")
    return SubscriptionStart(after=after, last_seq=last_seq)
