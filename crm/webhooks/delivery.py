"""Delivering events to subscriptions: in ``seq`` order, signed, retried, logged.

How it scales and why a slow endpoint never delays the others:

- One Celery task run delivers for one subscription. A run first takes the
  subscription's lease (a conditional UPDATE, no long transaction), so each subscription
  is served by at most one worker at a time, in order, while any number of workers serve
  different subscriptions at once. A crashed worker's lease simply expires.
- A run reads the events after the subscription's cursor straight from the event log
  (the outbox), so nothing is lost if a signal or a task is: the sweep below finds any
  subscription that is behind and queues it again.
- Every request has short timeouts (``TIMEOUT``) and follows no redirects; a failure
  never sleeps: it records when the next attempt is due and ends the run, freeing the
  worker. A run stops after ``MAX_EVENTS_PER_RUN`` events and queues itself again, so a
  long backlog shares the workers fairly.

Retry schedule (``RETRY_SCHEDULE``), the delay after the n-th failed attempt, each with
±20 % jitter: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h. That is about
27.6 h from the first attempt to the eighth, so an event is retried for at least 24 h.
A failure when the subscription has been failing for 24 h or more (``DISABLE_AFTER``)
disables it, with a ``webhook.disabled`` event and an audit entry; its undelivered events
stay after the cursor, and turning it back on resumes from there.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from ..actors import Actor
from ..models import Event, EventSequence, WebhookDelivery, WebhookSubscription
from ..selectors import EVENT_TYPE_SCOPES
from ..services.audit import audit_record
from ..services.events import event_envelope, event_record
from ..times import iso
from . import signing, ssrf
from .services import ALL_EVENTS, delivery_next_attempt_number, webhook_secrets_active

logger = logging.getLogger(__name__)

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2
DISABLE_AFTER = timedelta(hours=24)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LEASE = timedelta(seconds=60)
MAX_EVENTS_PER_RUN = 100
EXCERPT_BYTES = 1024
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Causerie-Webhooks/1"

# The clock every function here reads unless given ``now``; tests replace it.
clock: Callable[[], datetime] = timezone.now


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempt``-th consecutive failure (1-based), with jitter."""
    base = RETRY_SCHEDULE[min(max(attempt, 1), len(RETRY_SCHEDULE)) - 1]
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return base * factor


def msg_id_for(event_id) -> str:
    """The ``webhook-id`` of an event: the same for every attempt and redelivery."""
    return f"msg_{uuid.UUID(str(event_id)).hex}"


def event_body(event: Event, *, workspace_slug: str) -> bytes:
    """The exact bytes POSTed: the event envelope as compact UTF-8 JSON."""
    envelope = event_envelope(event, workspace_slug=workspace_slug)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    ok: bool
    duration_ms: int
    error: str
    excerpt: str


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_BYTES].decode("utf-8", "replace")


def http_post(*, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST ``body`` to ``url`` through the SSRF guard, to the vetted address only."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = ssrf.target_resolve(url)
    except ssrf.UnsafeUrl as exc:
        return AttemptResult(None, False, elapsed(), f"unsafe_url: {exc}"[:300], "")
    request_headers = {
        **headers,
        "Host": target.host_header(),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with (
            httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST",
                target.connect_url(),
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response,
        ):
            received = b""
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= MAX_RESPONSE_BYTES:
                    break
            ok = 200 <= response.status_code < 300
            error = "" if ok else f"HTTP {response.status_code}"
            return AttemptResult(response.status_code, ok, elapsed(), error, _excerpt(received))
    except httpx.TimeoutException as exc:
        return AttemptResult(None, False, elapsed(), f"timeout: {type(exc).__name__}", "")
    except httpx.HTTPError as exc:
        return AttemptResult(None, False, elapsed(), f"network: {exc}"[:300], "")


def _attempt(
    *,
    subscription: WebhookSubscription,
    event: Event,
    attempt: int,
    trigger: str,
    now: datetime,
) -> tuple[WebhookDelivery, AttemptResult]:
    msg_id = msg_id_for(event.pk)
    body = event_body(event, workspace_slug=subscription.workspace.slug)
    headers = signing.signed_headers(
        webhook_secrets_active(subscription, now=now),
        msg_id,
        body,
        timestamp=int(now.timestamp()),
    )
    result = http_post(url=subscription.url, body=body, headers=headers)
    delivery = WebhookDelivery(
        workspace_id=subscription.workspace_id,
        subscription=subscription,
        event=event,
        msg_id=msg_id,
        attempt=attempt,
        trigger=trigger,
        status_code=result.status_code,
        ok=result.ok,
        duration_ms=result.duration_ms,
        error=result.error,
        response_excerpt=result.excerpt,
        created_at=now,
    )
    return delivery, result


def _event_filter(subscription: WebhookSubscription) -> Q:
    # Private notes never leave Causerie: no subscription receives their events.
    condition = ~(Q(type__startswith="message.") & Q(data__private=True))
    allowed = [p for p, scope in EVENT_TYPE_SCOPES.items() if scope in subscription.scopes]
    if len(allowed) < len(EVENT_TYPE_SCOPES):
        visible = Q(pk__in=[])
        for prefix in allowed:
            visible |= Q(type__startswith=f"{prefix}.")
        condition &= visible
    if ALL_EVENTS not in subscription.events:
        condition &= Q(type__in=subscription.events)
    return condition


def _next_event(subscription: WebhookSubscription) -> tuple[Event | None, int]:
    """The first event after the cursor for this subscription, and the log's last seq."""
    last_seq = (
        EventSequence.objects.filter(workspace_id=subscription.workspace_id)
        .values_list("last_seq", flat=True)
        .first()
    ) or 0
    event = (
        Event.objects.filter(
            workspace_id=subscription.workspace_id,
            seq__gt=subscription.cursor_seq,
            seq__lte=last_seq,
        )
        .filter(_event_filter(subscription))
        .order_by("seq")
        .first()
    )
    return event, last_seq


def _lease_take(subscription_id, *, now: datetime) -> str | None:
    token = uuid.uuid4().hex
    taken = (
        WebhookSubscription.objects.filter(pk=subscription_id, active=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + LEASE)
    )
    return token if taken else None


def _lease_release(subscription_id, token: str) -> None:
    WebhookSubscription.objects.filter(pk=subscription_id, lease_token=token).update(
        lease_token="", lease_until=None
    )


def webhook_disable(*, subscription: WebhookSubscription, reason: str) -> None:
    """Turn a subscription off, saying why in the event log and the audit log."""
    actor = Actor.system(subscription.workspace)
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            active=False, disabled_reason=reason[:300], updated_at=clock()
        )
        audit_record(
            actor=actor,
            action="webhook.disabled",
            target_type="webhook",
            target_id=subscription.pk,
            details={"url": subscription.url, "reason": reason},
        )
        event_record(
            workspace=subscription.workspace,
            type="webhook.disabled",
            data={
                "id": str(subscription.pk),
                "url": subscription.url,
                "events": subscription.events,
                "active": False,
                "reason": reason,
                "failing_since": iso(subscription.failing_since),
            },
        )
    logger.warning("webhook %s disabled: %s", subscription.pk, reason)


@dataclass(frozen=True)
class RunOutcome:
    delivered: int
    failed: bool
    more: bool  # events remain that this run left for the next one


def subscription_deliver(
    *, subscription_id, now: datetime | None = None, max_events: int = MAX_EVENTS_PER_RUN
) -> RunOutcome:
    """Deliver a subscription's pending events in order, until one fails or none is left.

    Returns whether events remain for another run (the task queues one). Safe to call
    concurrently: only the holder of the lease delivers.
    """
    start = now or clock()
    token = _lease_take(subscription_id, now=start)
    if token is None:
        return RunOutcome(delivered=0, failed=False, more=False)
    delivered = 0
    try:
        while True:
            now_ = now or clock()
            subscription = (
                WebhookSubscription.objects.select_related("workspace")
                .filter(pk=subscription_id)
                .first()
            )
            if subscription is None:  # deleted meanwhile
                return RunOutcome(delivered, False, False)
            if not subscription.active or subscription.lease_token != token:
                return RunOutcome(delivered, False, False)
            if subscription.next_attempt_at is not None and subscription.next_attempt_at > now_:
                return RunOutcome(delivered, False, False)
            if delivered >= max_events:
                return RunOutcome(delivered, False, True)
            event, last_seq = _next_event(subscription)
            if event is None:
                WebhookSubscription.objects.filter(
                    pk=subscription.pk, cursor_seq__lt=last_seq
                ).update(cursor_seq=last_seq, head_seq=None, head_attempts=0)
                return RunOutcome(delivered, False, False)
            if subscription.head_seq != event.seq:
                subscription.head_seq, subscription.head_attempts = event.seq, 0
            attempt = delivery_next_attempt_number(
                subscription_id=subscription.pk, event_id=event.pk
            )
            delivery, result = _attempt(
                subscription=subscription,
                event=event,
                attempt=attempt,
                trigger=WebhookDelivery.TRIGGER_AUTOMATIC,
                now=now_,
            )
            if result.ok:
                delivery.save()
                WebhookSubscription.objects.filter(pk=subscription.pk).update(
                    cursor_seq=event.seq,
                    head_seq=None,
                    head_attempts=0,
                    next_attempt_at=None,
                    failing_since=None,
                    lease_until=(now or clock()) + LEASE,
                )
                delivered += 1
                continue
            failing_since = subscription.failing_since or now_
            failures = subscription.head_attempts + 1
            if now_ - failing_since >= DISABLE_AFTER:
                delivery.save()
                subscription.failing_since = failing_since
                WebhookSubscription.objects.filter(pk=subscription.pk).update(
                    head_seq=event.seq, head_attempts=failures, next_attempt_at=None
                )
                webhook_disable(
                    subscription=subscription,
                    reason=(
                        f"Every delivery failed for {DISABLE_AFTER.total_seconds() / 3600:.0f} h "
                        f"(since {failing_since.isoformat()}); last: {result.error}."
                    ),
                )
                return RunOutcome(delivered, True, False)
            delivery.next_attempt_at = now_ + retry_delay(failures)
            delivery.save()
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                head_seq=event.seq,
                head_attempts=failures,
                next_attempt_at=delivery.next_attempt_at,
                failing_since=failing_since,
            )
            return RunOutcome(delivered, True, False)
    finally:
        _lease_release(subscription_id, token)


def delivery_resend(*, delivery_id, now: datetime | None = None) -> WebhookDelivery | None:
    """Send a logged delivery's event once more, now, as a new attempt (same webhook-id)."""
    now = now or clock()
    original = (
        WebhookDelivery.objects.select_related("subscription__workspace", "event")
        .filter(pk=delivery_id)
        .first()
    )
    if original is None:
        return None
    attempt = delivery_next_attempt_number(
        subscription_id=original.subscription_id, event_id=original.event_id
    )
    delivery, _ = _attempt(
        subscription=original.subscription,
        event=original.event,
        attempt=attempt,
        trigger=WebhookDelivery.TRIGGER_REDELIVERY,
        now=now,
    )
    delivery.save()
    return delivery


def subscriptions_due(*, now: datetime | None = None, limit: int = 500) -> list:
    """Active subscriptions that are behind the log, not leased, and whose retry is due."""
    now = now or clock()
    last_seq = EventSequence.objects.filter(workspace_id=OuterRef("workspace_id")).values(
        "last_seq"
    )[:1]
    return list(
        WebhookSubscription.objects.filter(active=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .annotate(log_last_seq=Subquery(last_seq))
        .filter(cursor_seq__lt=F("log_last_seq"))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
