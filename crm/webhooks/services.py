"""Webhook subscriptions: create, change, rotate the secret, delete, redeliver."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..actors import Actor
from ..exceptions import Forbidden, InvalidInput
from ..models import EventSequence, WebhookDelivery, WebhookSubscription
from ..selectors import EVENT_TYPE_SCOPES
from ..services.audit import audit_record
from ..times import iso
from . import signing, ssrf

ALL_EVENTS = "*"
EVENT_TYPE_PATTERN = re.compile(r"^[a-z_]+\.[a-z_]+$")
# How long the previous secret keeps signing after a rotation, unless the caller says.
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=7)


@dataclass(frozen=True)
class WebhookWithSecret:
    """A subscription and its new secret, shown in this response only."""

    subscription: WebhookSubscription
    secret: str


def _url_vet(url: str) -> str:
    try:
        ssrf.target_resolve(url)
    except ssrf.UnsafeUrl as exc:
        raise InvalidInput(
            "The webhook URL cannot be used.", code="unsafe_url", details={"url": [str(exc)]}
        ) from exc
    return url


def _events_validate(*, actor: Actor, events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    if not events or ALL_EVENTS in events:
        return [ALL_EVENTS]
    bad = [
        e
        for e in events
        if not EVENT_TYPE_PATTERN.match(e) or e.split(".", 1)[0] not in EVENT_TYPE_SCOPES
    ]
    if bad:
        raise InvalidInput(
            "Unknown event types.",
            details={"events": [f"Unknown event type {e!r}." for e in bad]},
        )
    beyond = sorted(
        {EVENT_TYPE_SCOPES[e.split(".", 1)[0]] for e in events}
        - {s for s in EVENT_TYPE_SCOPES.values() if actor.has_scope(s)}
    )
    if beyond:
        raise Forbidden(
            "A subscription cannot receive events its creator may not read.",
            details={"missing_scopes": beyond},
        )
    return events


def webhook_secrets_active(
    subscription: WebhookSubscription, *, now: datetime | None = None
) -> list[str]:
    """The secrets that sign now: the current one, and the previous during its overlap."""
    now = now or timezone.now()
    active = [subscription.secrets["current"]]
    previous = subscription.secrets.get("previous")
    expires = subscription.previous_secret_expires_at
    if previous and expires is not None and expires > now:
        active.append(previous)
    return active


def _audit(actor: Actor, action: str, subscription: WebhookSubscription, **details) -> None:
    audit_record(
        actor=actor,
        action=action,
        target_type="webhook",
        target_id=subscription.pk,
        details={"url": subscription.url, **details},
    )


@transaction.atomic
def webhook_create(
    *,
    actor: Actor,
    url: str,
    events: Iterable[str] = (ALL_EVENTS,),
    active: bool = True,
    description: str = "",
) -> WebhookWithSecret:
    """Subscribe ``url`` to the workspace's events from now on; the secret is shown once."""
    url = _url_vet(url)
    events = _events_validate(actor=actor, events=events)
    secret = signing.secret_generate()
    last_seq = (
        EventSequence.objects.filter(workspace_id=actor.workspace.pk)
        .values_list("last_seq", flat=True)
        .first()
    )
    subscription = WebhookSubscription.objects.create(
        workspace=actor.workspace,
        url=url,
        description=description,
        events=events,
        active=active,
        secrets={"current": secret, "previous": None},
        scopes=sorted(actor.scopes),
        cursor_seq=last_seq or 0,
    )
    _audit(actor, "webhook.created", subscription, events=events, active=active)
    return WebhookWithSecret(subscription=subscription, secret=secret)


_UNSET = object()


@transaction.atomic
def webhook_update(
    *,
    actor: Actor,
    subscription: WebhookSubscription,
    url: str | None = None,
    events: Iterable[str] | None = None,
    active: bool | None = None,
    description: str | None = None,
) -> WebhookSubscription:
    """Change a subscription. Turning it back on resumes delivery where it stopped."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    changes: dict[str, list] = {}
    if url is not None and url != subscription.url:
        changes["url"] = [subscription.url, _url_vet(url)]
        subscription.url = url
    if events is not None:
        events = _events_validate(actor=actor, events=events)
        if events != subscription.events:
            changes["events"] = [subscription.events, events]
            subscription.events = events
    if description is not None and description != subscription.description:
        changes["description"] = [subscription.description, description]
        subscription.description = description
    if active is not None and active != subscription.active:
        changes["active"] = [subscription.active, active]
        subscription.active = active
        if active:
            # A fresh start: the failing streak and its backoff are forgotten.
            subscription.disabled_reason = ""
            subscription.failing_since = None
            subscription.next_attempt_at = None
            subscription.head_attempts = 0
    if changes:
        subscription.updated_at = timezone.now()
        subscription.save()
        _audit(actor, "webhook.updated", subscription, changes=changes)
    if changes.get("active") == [False, True]:
        from ..tasks import task_enqueue
        from .tasks import deliver_webhooks_task

        subscription_id = str(subscription.pk)
        transaction.on_commit(
            lambda: task_enqueue(deliver_webhooks_task, subscription_id=subscription_id)
        )
    return subscription


@transaction.atomic
def webhook_secret_rotate(
    *,
    actor: Actor,
    subscription: WebhookSubscription,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    now: datetime | None = None,
) -> WebhookWithSecret:
    """Replace the secret; the previous one keeps signing too for ``overlap``."""
    if overlap < timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        most = int(MAX_ROTATION_OVERLAP.total_seconds())
        raise InvalidInput(
            "The overlap is out of range.", details={"overlap_seconds": [f"From 0 to {most}."]}
        )
    now = now or timezone.now()
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = signing.secret_generate()
    previous = subscription.secrets["current"] if overlap else None
    subscription.secrets = {"current": secret, "previous": previous}
    subscription.previous_secret_expires_at = now + overlap if overlap else None
    subscription.updated_at = now
    subscription.save(update_fields=["secrets", "previous_secret_expires_at", "updated_at"])
    _audit(
        actor,
        "webhook.secret_rotated",
        subscription,
        previous_secret_expires_at=iso(subscription.previous_secret_expires_at),
    )
    return WebhookWithSecret(subscription=subscription, secret=secret)


@transaction.atomic
def webhook_delete(*, actor: Actor, subscription: WebhookSubscription) -> None:
    """Delete a subscription and its delivery log."""
    _audit(actor, "webhook.deleted", subscription)
    subscription.delete()


@transaction.atomic
def webhook_redeliver(*, actor: Actor, delivery: WebhookDelivery) -> None:
    """Send a delivery's event again, once, now (out of band: the cursor is untouched)."""
    _audit(
        actor,
        "webhook.redelivered",
        delivery.subscription,
        delivery=str(delivery.pk),
        event=str(delivery.event_id),
    )
    from ..tasks import task_enqueue
    from .tasks import redeliver_webhook_task

    delivery_id = str(delivery.pk)
    transaction.on_commit(lambda: task_enqueue(redeliver_webhook_task, delivery_id=delivery_id))


def delivery_next_attempt_number(*, subscription_id, event_id) -> int:
    """1 + the attempts already logged for this event and subscription."""
    last = WebhookDelivery.objects.filter(
        subscription_id=subscription_id, event_id=event_id
    ).aggregate(n=Max("attempt"))["n"]
    return (last or 0) + 1
