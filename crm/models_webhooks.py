"""Outbound webhook subscriptions and the log of their delivery attempts.

Imported by ``crm.models``; the logic lives in ``crm.webhooks``.
"""

from django.db import models
from django.utils import timezone

from integrations.crypto import EncryptedJSONField

from .ids import uuid7


class WebhookSubscription(models.Model):
    """A third party's endpoint that receives the workspace's events, signed, in order.

    Delivery state is kept here, per subscription, so that any number of workers can
    deliver to different subscriptions at once while each subscription is served by one
    worker at a time (a lease) strictly in ``seq`` order (a cursor):

    - ``cursor_seq``: every event up to it was delivered or does not concern the
      subscription; the next one to send is the first matching event after it.
    - ``head_seq``/``head_attempts``/``next_attempt_at``: the event being retried, how
      many automatic attempts it had, and when the next may run.
    - ``failing_since``: the first failure of the current streak; 24 h of failures
      disable the subscription.
    - ``lease_token``/``lease_until``: which worker delivers for it now, until when.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey("crm.Workspace", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types, or ["*"] for every type the creator could read.
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    # {"current": "whsec_...", "previous": "whsec_..." | null}, encrypted at rest.
    secrets = EncryptedJSONField(default=dict)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The creator's scopes when created: events its credential could not read are never sent.
    scopes = models.JSONField(default=list)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    cursor_seq = models.BigIntegerField(default=0)
    head_seq = models.BigIntegerField(null=True, blank=True)
    head_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="webhook_ws_created"),
            models.Index(fields=["active", "next_attempt_at"], name="webhook_due"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one subscription, with what the endpoint said."""

    TRIGGER_AUTOMATIC = "automatic"
    TRIGGER_REDELIVERY = "redelivery"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey("crm.Workspace", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey("crm.Event", on_delete=models.CASCADE, related_name="+")
    # The ``webhook-id`` header: the same for every attempt and redelivery of an event.
    msg_id = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, default=TRIGGER_AUTOMATIC)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["subscription", "-created_at", "-id"], name="webhook_delivery_sub"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.msg_id} #{self.attempt}"
