"""Delivery over real HTTP to the emulator's sink: signed, in order, retried, logged."""

import json
import random
from datetime import timedelta

import pytest

from crm.models import AuditLogEntry, Event, WebhookDelivery, WebhookSubscription
from crm.services.events import event_record
from crm.webhooks import delivery, signing
from crm.webhooks.delivery import (
    DISABLE_AFTER,
    RETRY_SCHEDULE,
    msg_id_for,
    retry_delay,
    subscription_deliver,
    subscriptions_due,
)
from crm.webhooks.services import webhook_secret_rotate


def record(ws, type_="contact.created", **data):
    return event_record(workspace=ws.workspace, type=type_, data=data or {"id": "c"})


def verify(secret, received, *, at):
    return signing.verify_signature(secret, received["headers"], received["body"], now=at)


def test_an_event_arrives_signed_as_the_specification_says(ws, subscribe, sink, clock):
    subscription, secret = subscribe(sink.url)
    event = record(ws, name="Ada")

    outcome = subscription_deliver(subscription_id=subscription.pk)

    assert outcome.delivered == 1
    (received,) = sink.requests()
    headers = received["headers"]
    assert headers["webhook-id"] == msg_id_for(event.pk)
    assert headers["webhook-timestamp"] == str(int(clock.now.timestamp()))
    assert headers["content-type"] == "application/json"
    assert verify(secret, received, at=clock.now.timestamp())
    body = json.loads(received["body"])
    assert body == {
        "id": str(event.pk),
        "seq": event.seq,
        "type": "contact.created",
        "workspace": ws.slug,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {"name": "Ada"},
    }
    logged = WebhookDelivery.objects.get(subscription=subscription)
    assert (logged.attempt, logged.ok, logged.status_code) == (1, True, 200)
    assert logged.duration_ms is not None
    assert logged.response_excerpt == "ok"
    subscription.refresh_from_db()
    assert subscription.cursor_seq == event.seq


def test_private_notes_never_leave_causerie(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    record(ws, "message.created", id="note", private=True, text="the customer is rude")
    record(ws, "message.updated", id="note", private=True, text="the customer is very rude")
    public = record(ws, "message.created", id="reply", private=False, text="On its way!")

    while subscription_deliver(subscription_id=subscription.pk).delivered:
        pass

    sent = [json.loads(r["body"]) for r in sink.requests()]
    assert [e["data"]["id"] for e in sent] == ["reply"]
    assert sent[0]["seq"] == public.seq


def test_events_before_the_subscription_are_not_sent(ws, subscribe, sink, clock):
    record(ws)
    subscription, _ = subscribe(sink.url)
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 0
    assert sink.requests() == []


def test_events_go_in_seq_order_and_a_failure_holds_the_later_ones(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    events = [record(ws, n=n) for n in range(4)]
    sink.answer(503)

    first = subscription_deliver(subscription_id=subscription.pk)

    assert first.failed
    assert len(sink.requests()) == 1  # the head failed: nothing after it was sent
    subscription.refresh_from_db()
    assert subscription.head_seq == events[0].seq
    # Before the backoff is over, nothing is attempted.
    clock.advance(timedelta(seconds=3))
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 0
    assert len(sink.requests()) == 1

    sink.answer(200)
    clock.to(subscription.next_attempt_at)
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 4

    received = sink.requests()
    seqs = [json.loads(r["body"])["seq"] for r in received]
    assert seqs == [events[0].seq, *(e.seq for e in events)]
    # The retried event kept its webhook-id.
    assert received[0]["headers"]["webhook-id"] == received[1]["headers"]["webhook-id"]
    attempts = WebhookDelivery.objects.filter(event=events[0]).order_by("attempt")
    assert [(a.attempt, a.ok, a.status_code) for a in attempts] == [(1, False, 503), (2, True, 200)]
    assert attempts[0].response_excerpt == "error"
    assert attempts[0].next_attempt_at == subscription.next_attempt_at


def test_retry_schedule_is_exponential_with_jitter_and_covers_24_hours():
    rng = random.Random(7)
    for attempt, base in enumerate(RETRY_SCHEDULE, start=1):
        for _ in range(20):
            delay = retry_delay(attempt, rng=rng)
            assert base * 0.8 <= delay <= base * 1.2
    # Beyond the table, the last step repeats.
    assert retry_delay(50, rng=rng) <= RETRY_SCHEDULE[-1] * 1.2
    # Growing steps, and retried for at least 24 h even when every jitter is at its lowest.
    assert list(RETRY_SCHEDULE) == sorted(RETRY_SCHEDULE)
    assert sum(RETRY_SCHEDULE, timedelta()) * 0.8 >= timedelta(hours=22)
    assert delay != retry_delay(len(RETRY_SCHEDULE), rng=rng)  # jitter varies


def test_retries_follow_the_schedule_then_the_subscription_is_disabled(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    event = record(ws)
    sink.answer(500)
    started = clock.now
    waits = []
    while True:
        subscription_deliver(subscription_id=subscription.pk)
        subscription.refresh_from_db()
        if not subscription.active:
            break
        waits.append(subscription.next_attempt_at - clock.now)
        clock.to(subscription.next_attempt_at)
        assert len(waits) < 20

    # Each wait follows the documented schedule, within its jitter.
    for n, wait in enumerate(waits):
        base = RETRY_SCHEDULE[min(n, len(RETRY_SCHEDULE) - 1)]
        assert base * 0.8 <= wait <= base * 1.2
    # Retried for at least 24 h, disabled by the first failure past 24 h.
    assert clock.now - started >= DISABLE_AFTER
    assert clock.now - started - waits[-1] < DISABLE_AFTER
    attempts = WebhookDelivery.objects.filter(subscription=subscription).order_by("attempt")
    assert [a.attempt for a in attempts] == list(range(1, len(waits) + 2))
    assert {a.msg_id for a in attempts} == {msg_id_for(event.pk)}
    assert len(sink.requests()) == len(waits) + 1

    assert "500" in subscription.disabled_reason
    disabled = Event.objects.get(workspace=ws.workspace, type="webhook.disabled")
    assert disabled.data["id"] == str(subscription.pk)
    assert disabled.data["reason"] == subscription.disabled_reason
    audit = AuditLogEntry.objects.get(workspace=ws.workspace, action="webhook.disabled")
    assert audit.actor_type == "system"
    assert audit.target_id == str(subscription.pk)
    # Disabled: nothing more is attempted, and the sweep leaves it alone.
    clock.advance(timedelta(days=2))
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 0
    assert subscription.pk not in subscriptions_due()


def test_turning_it_back_on_resumes_from_the_undelivered_event(
    client, ws, subscribe, sink, clock, django_capture_on_commit_callbacks
):
    subscription, _ = subscribe(sink.url)
    event = record(ws)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        active=False, disabled_reason="test", failing_since=clock.now, head_attempts=8
    )
    sink.answer(200)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(ws.url(f"webhooks/{subscription.pk}/"), {"active": True})
    assert response.status_code == 200
    assert response.json()["disabled_reason"] == ""
    (received,) = sink.requests()
    assert received["headers"]["webhook-id"] == msg_id_for(event.pk)


def test_a_success_ends_the_failing_streak(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    record(ws)
    sink.answer(500)
    subscription_deliver(subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.failing_since == clock.now
    sink.answer(204)
    clock.to(subscription.next_attempt_at)
    subscription_deliver(subscription_id=subscription.pk)
    subscription.refresh_from_db()
    assert subscription.failing_since is None
    assert subscription.next_attempt_at is None
    assert subscription.head_attempts == 0


def test_during_the_overlap_both_secrets_sign_then_only_the_new(ws, subscribe, sink, clock):
    subscription, old = subscribe(sink.url)
    rotated = webhook_secret_rotate(
        actor=ws.owner_actor, subscription=subscription, overlap=timedelta(hours=1), now=clock.now
    )
    new = rotated.secret
    assert new != old
    record(ws, n=1)
    subscription_deliver(subscription_id=subscription.pk)
    clock.advance(timedelta(hours=1, seconds=1))
    record(ws, n=2)
    subscription_deliver(subscription_id=subscription.pk)

    during, after = sink.requests()
    assert len(during["headers"]["webhook-signature"].split()) == 2
    assert verify(old, during, at=float(during["headers"]["webhook-timestamp"]))
    assert verify(new, during, at=float(during["headers"]["webhook-timestamp"]))
    assert len(after["headers"]["webhook-signature"].split()) == 1
    assert verify(new, after, at=float(after["headers"]["webhook-timestamp"]))
    assert not verify(old, after, at=float(after["headers"]["webhook-timestamp"]))


def test_a_subscription_gets_only_its_event_types(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url, events=["conversation.updated"])
    record(ws, "contact.created")
    wanted = record(ws, "conversation.updated")
    record(ws, "contact.updated")
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 1
    (received,) = sink.requests()
    assert json.loads(received["body"])["id"] == str(wanted.pk)
    subscription.refresh_from_db()
    assert subscription.cursor_seq == wanted.seq + 1  # skipped past what it does not want


def test_events_beyond_the_creators_scopes_are_never_sent(ws, sink, clock):
    from crm.actors import Actor
    from crm.services.workspaces import api_key_create
    from crm.webhooks.services import webhook_create

    key = api_key_create(
        actor=ws.owner_actor, name="hooks only", key_scopes=["webhooks:manage"], expires_at=None
    )
    created = webhook_create(actor=Actor.for_api_key(key.api_key), url=sink.url)
    record(ws, "contact.created")
    record(ws, "message.created")
    webhook_event = record(ws, "webhook.disabled")
    subscription_deliver(subscription_id=created.subscription.pk)
    assert [json.loads(r["body"])["id"] for r in sink.requests()] == [str(webhook_event.pk)]


def test_the_sweep_finds_subscriptions_that_are_behind_and_due(ws, subscribe, sink, clock):
    behind, _ = subscribe(sink.url)
    sink.answer(500)
    record(ws)
    assert set(subscriptions_due(now=clock.now)) == {behind.pk}
    subscription_deliver(subscription_id=behind.pk)
    behind.refresh_from_db()
    assert subscriptions_due(now=clock.now) == []  # retry not due yet
    assert subscriptions_due(now=behind.next_attempt_at) == [behind.pk]


def test_one_worker_at_a_time_per_subscription(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    record(ws)
    token = delivery._lease_take(subscription.pk, now=clock.now)
    assert token
    # Another worker finds the lease taken and leaves at once.
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 0
    assert sink.requests() == []
    delivery._lease_release(subscription.pk, token)
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 1
    # A crashed worker's lease expires.
    record(ws)
    delivery._lease_take(subscription.pk, now=clock.now)
    clock.advance(delivery.LEASE + timedelta(seconds=1))
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 1


def test_a_long_backlog_is_delivered_in_runs(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    for n in range(5):
        record(ws, n=n)
    outcome = subscription_deliver(subscription_id=subscription.pk, max_events=2)
    assert (outcome.delivered, outcome.more) == (2, True)
    assert subscription_deliver(subscription_id=subscription.pk).delivered == 3
    seqs = [json.loads(r["body"])["seq"] for r in sink.requests()]
    assert seqs == sorted(seqs)
    assert len(seqs) == 5


@pytest.mark.django_db(transaction=True)
def test_committed_events_are_delivered_through_the_celery_task(make_workspace, make_sink):
    """End to end: an API write commits an event; the dispatcher queues the task (eager)."""
    from tests.conftest import client_with

    ws = make_workspace("hooked")
    sink = make_sink()
    client = client_with(ws.token)
    created = client.post(ws.url("webhooks/"), {"url": sink.url, "events": ["webhook.disabled"]})
    assert created.status_code == 201
    from crm.webhooks.delivery import webhook_disable

    other = WebhookSubscription.objects.create(
        workspace=ws.workspace, url="http://127.0.0.1:9/", secrets={"current": "whsec_x"}
    )
    webhook_disable(subscription=other, reason="test")

    (received,) = sink.requests()
    assert json.loads(received["body"])["type"] == "webhook.disabled"
    assert verify(
        created.json()["secret"], received, at=float(received["headers"]["webhook-timestamp"])
    )


def test_a_run_for_a_deleted_subscription_does_nothing(ws, subscribe, sink, clock):
    subscription, _ = subscribe(sink.url)
    record(ws)
    subscription_id = subscription.pk
    subscription.delete()
    assert subscription_deliver(subscription_id=subscription_id).delivered == 0
    assert sink.requests() == []


@pytest.mark.django_db(transaction=True)
def test_subscriptions_are_read_once_per_bound_and_another_processs_change_is_seen_after_it(
    make_workspace, make_sink, settings, monkeypatch
):
    """Every commit that records events asks which subscriptions want them; a process
    remembers the answer for ``CAUSERIE_AUTH_CACHE_SECONDS``. Its own changes apply at once,
    another process's (a bulk update sends this one no signal) within the bound."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm import process_cache
    from crm.webhooks.services import webhook_create

    ws = make_workspace("remembering")
    sink = make_sink()
    created = webhook_create(actor=ws.owner_actor, url=sink.url, active=False)

    def subscription_reads() -> int:
        with CaptureQueriesContext(connection) as queries:
            record(ws, id="c1")
            record(ws, id="c2")
        table = WebhookSubscription._meta.db_table
        return sum(f'FROM "{table}"' in q["sql"] for q in queries.captured_queries)

    assert subscription_reads() == 1
    WebhookSubscription.objects.filter(pk=created.subscription.pk).update(active=True)
    assert subscription_reads() == 0
    assert sink.requests() == []

    now = process_cache.time.monotonic()
    later = now + settings.CAUSERIE_AUTH_CACHE_SECONDS + 0.1
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: later)
    record(ws, id="c3")
    delivered = [json.loads(r["body"])["data"]["id"] for r in sink.requests()]
    assert delivered[-1] == "c3"
    assert set(delivered) >= {"c1", "c2", "c3"}


@pytest.mark.django_db(transaction=True)
def test_a_subscription_made_in_this_process_gets_the_next_commit_at_once(
    make_workspace, make_sink
):
    from crm.webhooks.services import webhook_create

    ws = make_workspace("at-once")
    sink = make_sink()
    record(ws, id="before")  # this process now remembers that no subscription wants it
    webhook_create(actor=ws.owner_actor, url=sink.url, events=["contact.created"])
    record(ws, id="after")
    assert [json.loads(r["body"])["data"]["id"] for r in sink.requests()] == ["after"]
