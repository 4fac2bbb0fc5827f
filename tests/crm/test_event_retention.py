"""Event retention: beat prunes events past ``CAUSERIE_EVENT_RETENTION`` in batches."""

from datetime import timedelta

from django.conf import settings as django_settings
from django.utils import timezone

from conversations.realtime import subscription_start
from crm.models import Event
from crm.services.events import event_record, events_prune
from crm.tasks import prune_events_task


def _record(ws, count: int, *, days_ago: float = 0) -> list[int]:
    seqs = [
        event_record(workspace=ws.workspace, type="contact.created", data={"i": i}).seq
        for i in range(count)
    ]
    if days_ago:
        Event.objects.filter(workspace=ws.workspace, seq__in=seqs).update(
            occurred_at=timezone.now() - timedelta(days=days_ago)
        )
    return seqs


def _seqs(ws) -> list[int]:
    return list(
        Event.objects.filter(workspace=ws.workspace).order_by("seq").values_list("seq", flat=True)
    )


def test_events_past_retention_are_pruned_in_batches_and_recent_ones_kept(ws, settings):
    settings.CAUSERIE_EVENT_RETENTION = timedelta(days=7)
    _record(ws, 7, days_ago=8)
    recent = _record(ws, 3, days_ago=6)

    # Two batches of three: six of the seven old events, then beat's next run the last.
    assert events_prune(batch_size=3, max_batches=2) == 6
    assert _seqs(ws) == [7, *recent]
    assert events_prune(batch_size=3, max_batches=2) == 1
    assert _seqs(ws) == recent
    assert events_prune() == 0


def test_the_newest_event_of_a_workspace_is_kept_and_seq_keeps_increasing(ws, other_ws):
    _record(ws, 4, days_ago=40)
    _record(other_ws, 2, days_ago=40)

    assert prune_events_task() == 4

    # One event stays per workspace, the newest, even past retention.
    assert _seqs(ws) == [4]
    assert _seqs(other_ws) == [2]
    assert event_record(workspace=ws.workspace, type="contact.created", data={}).seq == 5


def test_a_client_resuming_from_a_pruned_event_is_told_to_resync(ws):
    _record(ws, 5, days_ago=40)
    _record(ws, 1)
    events_prune()

    pruned = subscription_start(workspace=ws.workspace, after=2)
    kept = subscription_start(workspace=ws.workspace, after=5)

    assert pruned.resync_reason == "beyond_retention"
    assert kept.resync_reason is None


def test_beat_runs_the_pruning_and_retention_defaults_to_30_days():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}

    assert "crm.prune_events" in tasks
    assert django_settings.CAUSERIE_EVENT_RETENTION.total_seconds() == 30 * 24 * 3600
