"""Service-level reports: counts and response times over a period, by channel, team, agent.

Conversations *created* in the period count in ``conversations`` and in the first and
next response figures; conversations *resolved* in the period (and still resolved) count
in ``resolved`` and the resolution figures. Durations are business seconds (see
``sla.py``). The median of an even count is the mean of the two middle values; the 90th
percentile is the nearest-rank value (the ⌈0.9·n⌉-th smallest), so it is always a
duration that some conversation really had.
"""

import math
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import Q

from crm.actors import Actor
from crm.models import Membership, Team
from crm.times import iso

from .models import STATUS_RESOLVED, Conversation
from .selectors import conversation_visibility

CSV_COLUMNS = (
    "id",
    "platform",
    "kind",
    "brand_account",
    "team",
    "assignee",
    "status",
    "priority",
    "created_at",
    "first_response_at",
    "first_response_seconds",
    "next_response_count",
    "next_response_avg_seconds",
    "resolved_at",
    "resolution_seconds",
    "reopened_count",
)


def percentile_nearest_rank(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_seconds": statistics.median(values) if values else None,
        "p90_seconds": percentile_nearest_rank(values, 0.9),
    }


def _rows(*, actor: Actor, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return list(
        Conversation.objects.filter(workspace=actor.workspace)
        .filter(conversation_visibility(actor))
        .filter(
            Q(created_at__gte=start, created_at__lt=end)
            | Q(resolved_at__gte=start, resolved_at__lt=end)
        )
        .order_by("created_at", "pk")
        .values(
            "id",
            "platform",
            "kind",
            "brand_account_id",
            "team_id",
            "assignee_id",
            "status",
            "priority",
            "created_at",
            "first_response_at",
            "first_response_seconds",
            "next_response_count",
            "next_response_seconds_total",
            "resolved_at",
            "resolution_seconds",
            "reopened_count",
        )
    )


def _metrics(rows: list[dict], *, start: datetime, end: datetime) -> dict[str, Any]:
    created = [r for r in rows if start <= r["created_at"] < end]
    resolved = [
        r
        for r in rows
        if r["status"] == STATUS_RESOLVED
        and r["resolved_at"] is not None
        and start <= r["resolved_at"] < end
    ]
    return {
        "conversations": len(created),
        "resolved": len(resolved),
        "unresolved": sum(1 for r in created if r["status"] != STATUS_RESOLVED),
        "first_response": _stats(
            [
                r["first_response_seconds"]
                for r in created
                if r["first_response_seconds"] is not None
            ]
        ),
        "next_response": _stats(
            [
                r["next_response_seconds_total"] / r["next_response_count"]
                for r in created
                if r["next_response_count"]
            ]
        ),
        "resolution": _stats(
            [r["resolution_seconds"] for r in resolved if r["resolution_seconds"] is not None]
        ),
    }


def report_summary(*, actor: Actor, start: datetime, end: datetime) -> dict[str, Any]:
    """Totals and per platform, team and agent figures for ``[start, end)``."""
    rows = _rows(actor=actor, start=start, end=end)
    groups: dict[str, dict[Any, list]] = {
        "platform": defaultdict(list),
        "team_id": defaultdict(list),
        "assignee_id": defaultdict(list),
    }
    for row in rows:
        for key, grouped in groups.items():
            grouped[row[key]].append(row)
    team_names = dict(Team.objects.filter(workspace=actor.workspace).values_list("pk", "name"))
    members = {
        m.pk: (m.user.name or m.user.email)
        for m in Membership.objects.filter(workspace=actor.workspace).select_related("user")
    }
    return {
        "period": {"from": iso(start), "to": iso(end)},
        "totals": _metrics(rows, start=start, end=end),
        "by_platform": [
            {"platform": platform, **_metrics(grouped, start=start, end=end)}
            for platform, grouped in sorted(groups["platform"].items())
        ],
        "by_team": [
            {
                "team": str(team_id) if team_id else None,
                "name": team_names.get(team_id, ""),
                **_metrics(grouped, start=start, end=end),
            }
            for team_id, grouped in sorted(groups["team_id"].items(), key=lambda i: str(i[0]))
        ],
        "by_agent": [
            {
                "agent": str(member_id) if member_id else None,
                "name": members.get(member_id, ""),
                **_metrics(grouped, start=start, end=end),
            }
            for member_id, grouped in sorted(groups["assignee_id"].items(), key=lambda i: str(i[0]))
        ],
    }


def report_csv_rows(*, actor: Actor, start: datetime, end: datetime) -> list[list[Any]]:
    """One row per conversation created or resolved in ``[start, end)``, header first."""
    lines: list[list[Any]] = [list(CSV_COLUMNS)]
    for r in _rows(actor=actor, start=start, end=end):
        avg = (
            r["next_response_seconds_total"] // r["next_response_count"]
            if r["next_response_count"]
            else ""
        )
        lines.append(
            [
                r["id"],
                r["platform"],
                r["kind"],
                r["brand_account_id"] or "",
                r["team_id"] or "",
                r["assignee_id"] or "",
                r["status"],
                r["priority"],
                iso(r["created_at"]),
                iso(r["first_response_at"]) or "",
                "" if r["first_response_seconds"] is None else r["first_response_seconds"],
                r["next_response_count"],
                avg,
                iso(r["resolved_at"]) or "",
                "" if r["resolution_seconds"] is None else r["resolution_seconds"],
                r["reopened_count"],
            ]
        )
    return lines
