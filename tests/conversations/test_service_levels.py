"""Service-level clocks (business hours, reopen rule) and the summary report."""

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conversations.reports import percentile_nearest_rank, report_summary
from conversations.services.conversations import ConversationChanges, conversation_update
from conversations.services.messages import message_send
from conversations.sla import business_seconds
from crm.models import Workspace
from crm.services.workspaces import team_create

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def set(self, value: datetime) -> datetime:
        self.now = value
        return value


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fake.now)
    return fake


def _hours(workspace, hours, tz="Europe/Paris"):
    Workspace.objects.filter(pk=workspace.pk).update(business_hours=hours, timezone=tz)
    workspace.refresh_from_db()


def test_business_seconds_count_only_open_hours_in_the_workspace_time_zone(ws):
    _hours(ws.workspace, WEEKDAYS_9_TO_5)
    friday_4pm = datetime(2026, 1, 9, 16, 0, tzinfo=PARIS)
    monday_10am = datetime(2026, 1, 12, 10, 0, tzinfo=PARIS)

    # One hour on Friday, none over the weekend, one on Monday.
    assert business_seconds(workspace=ws.workspace, start=friday_4pm, end=monday_10am) == 7200
    # Outside hours entirely.
    saturday = datetime(2026, 1, 10, 12, 0, tzinfo=PARIS)
    assert (
        business_seconds(workspace=ws.workspace, start=saturday, end=saturday.replace(hour=18)) == 0
    )


def test_business_seconds_follow_daylight_saving_changes(ws):
    _hours(ws.workspace, {"sun": [["00:00", "24:00"]]})
    start = datetime(2026, 3, 29, 0, 0, tzinfo=PARIS)  # clocks go forward that night

    assert (
        business_seconds(workspace=ws.workspace, start=start, end=start + timedelta(days=1))
        == 23 * 3600
    )


def test_always_open_without_business_hours(ws):
    start = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

    assert (
        business_seconds(workspace=ws.workspace, start=start, end=start + timedelta(hours=30))
        == 30 * 3600
    )


def test_first_response_is_measured_in_business_hours(ws, inbox, clock):
    _hours(ws.workspace, WEEKDAYS_9_TO_5)
    at = clock.set(datetime(2026, 1, 9, 16, 0, tzinfo=PARIS))
    conversation = inbox.conversation(at=at)
    clock.set(datetime(2026, 1, 12, 10, 0, tzinfo=PARIS))  # Monday 10:00; Messenger 7-day tag

    message_send(actor=ws.owner_actor, conversation=conversation, text="Sorry for the wait")

    conversation.refresh_from_db()
    assert conversation.first_response_seconds == 7200


def test_a_reopened_conversation_keeps_its_first_response(ws, inbox, clock):
    t0 = clock.set(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    conversation = inbox.conversation(at=t0)
    clock.set(t0 + timedelta(minutes=10))
    message_send(actor=ws.owner_actor, conversation=conversation, text="Hi")
    clock.set(t0 + timedelta(hours=1))
    conversation_update(
        actor=ws.owner_actor,
        conversation=conversation,
        changes=ConversationChanges(status="resolved"),
    )
    conversation.refresh_from_db()
    first_at = conversation.first_response_at
    assert conversation.resolution_seconds == 3600

    reopen = clock.set(t0 + timedelta(days=1))
    inbox.inbound(thread=conversation.thread_key, contact=conversation.contact, at=reopen)
    clock.set(reopen + timedelta(minutes=30))
    message_send(actor=ws.owner_actor, conversation=conversation, text="Again")

    conversation.refresh_from_db()
    assert conversation.reopened_count == 1
    assert conversation.first_response_at == first_at
    assert conversation.first_response_seconds == 600
    assert conversation.next_response_count == 1
    assert conversation.next_response_seconds_total == 1800


def test_nearest_rank_percentile():
    assert percentile_nearest_rank([], 0.9) is None
    assert percentile_nearest_rank([5], 0.9) == 5
    assert percentile_nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert percentile_nearest_rank([3, 1, 2], 0.9) == 3


@pytest.fixture
def january(ws, inbox, clock):
    """Five conversations with hand-computed figures (UTC, always open)."""
    a1, _ = ws.add_member("agent")
    a2, _ = ws.add_member("agent")
    t1 = team_create(actor=ws.owner_actor, name="T1")
    t2 = team_create(actor=ws.owner_actor, name="T2")
    owner = ws.owner_actor

    def conversation(platform, at, team, agent, reply_after=None, resolve_after=None):
        clock.set(at)
        c = inbox.conversation(platform=platform, at=at)
        conversation_update(
            actor=owner, conversation=c, changes=ConversationChanges(team=team, assignee=agent)
        )
        if reply_after is not None:
            clock.set(at + reply_after)
            message_send(actor=owner, conversation=c, text="reply")
        if resolve_after is not None:
            clock.set(at + resolve_after)
            conversation_update(
                actor=owner, conversation=c, changes=ConversationChanges(status="resolved")
            )
        return c

    day = lambda d, h: datetime(2026, 1, d, h, 0, tzinfo=UTC)  # noqa: E731
    conversations = {
        "A": conversation(
            "facebook", day(5, 10), t1, a1, timedelta(minutes=10), timedelta(hours=1)
        ),
        "B": conversation("facebook", day(6, 9), t1, a2, timedelta(minutes=30)),
        "C": conversation("whatsapp", day(7, 8), t2, a1, timedelta(hours=1), timedelta(hours=4)),
        "D": conversation("whatsapp", day(8, 10), None, None),
        "E": conversation(
            "instagram",
            datetime(2025, 12, 20, 0, 0, tzinfo=UTC),
            None,
            None,
            None,
            timedelta(days=13),
        ),
    }
    clock.set(day(31, 12))
    return {"a1": a1, "a2": a2, "t1": t1, "t2": t2, **conversations}


PERIOD = {"start": datetime(2026, 1, 1, tzinfo=UTC), "end": datetime(2026, 2, 1, tzinfo=UTC)}


def test_the_summary_matches_hand_computed_figures(ws, january):
    report = report_summary(actor=ws.owner_actor, **PERIOD)

    totals = report["totals"]
    assert (totals["conversations"], totals["resolved"], totals["unresolved"]) == (4, 3, 2)
    assert totals["first_response"] == {"count": 3, "median_seconds": 1800, "p90_seconds": 3600}
    assert totals["resolution"] == {
        "count": 3,
        "median_seconds": 14400,
        "p90_seconds": 13 * 86400,
    }
    platforms = {row["platform"]: row for row in report["by_platform"]}
    assert platforms["facebook"]["first_response"] == {
        "count": 2,
        "median_seconds": 1200,
        "p90_seconds": 1800,
    }
    assert platforms["instagram"]["conversations"] == 0
    assert platforms["instagram"]["resolved"] == 1
    agents = {row["agent"]: row for row in report["by_agent"]}
    a1 = agents[str(january["a1"].pk)]
    assert a1["first_response"] == {"count": 2, "median_seconds": 2100, "p90_seconds": 3600}
    assert a1["resolution"] == {"count": 2, "median_seconds": 9000, "p90_seconds": 14400}
    teams = {row["team"]: row for row in report["by_team"]}
    assert teams[str(january["t2"].pk)]["resolution"]["median_seconds"] == 14400
    assert teams[None]["conversations"] == 1  # D; E was created before the period


def test_the_report_api_answers_json_and_csv(ws, client, january):
    query = "?from=2026-01-01&to=2026-02-01T00:00:00Z"

    body = client.get(ws.url(f"reports/summary/{query}")).json()
    response = client.get(ws.url(f"reports/summary/{query}&export=csv"))

    assert body["totals"]["conversations"] == 4
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 5
    a = next(r for r in rows if r["id"] == str(january["A"].pk))
    assert (a["first_response_seconds"], a["resolution_seconds"]) == ("600", "3600")
    assert a["platform"] == "facebook"


def test_a_bad_period_is_refused(ws, client):
    assert client.get(ws.url("reports/summary/?from=2026-02-01&to=2026-01-01")).status_code == 400
    assert client.get(ws.url("reports/summary/?from=soon")).status_code == 400
