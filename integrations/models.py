"""Brand accounts: a brand's presence on one platform, with its encrypted credentials."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.ids import uuid7
from crm.models import WorkspaceOwned, workspace_key

from .crypto import EncryptedJSONField

PLATFORM_CHOICES = [
    ("facebook", "Facebook"),
    ("instagram", "Instagram"),
    ("whatsapp", "WhatsApp"),
    ("x", "X"),
    ("telegram", "Telegram"),
    ("youtube", "YouTube"),
    ("email", "Email"),
    ("discourse", "Discourse"),
    ("wordpress", "WordPress"),
    ("api", "API"),
]
PLATFORMS = tuple(value for value, _ in PLATFORM_CHOICES)


class BrandAccount(WorkspaceOwned):
    """One brand's account on one platform: where conversations come from and replies go."""

    STATUS_CHOICES = [("active", "Active"), ("error", "Error"), ("disabled", "Disabled")]

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="active")
    last_error = models.TextField(blank=True)
    credentials = EncryptedJSONField(default=dict)
    # Where polling resumes (Telegram getUpdates offset, YouTube watermark).
    poll_cursor = models.JSONField(default=dict, blank=True)
    # History backfill: progress shown on the account, resumable page by page.
    BACKFILL_CHOICES = [
        ("idle", "Idle"),
        ("running", "Running"),
        ("done", "Done"),
        ("failed", "Failed"),
    ]
    backfill_status = models.CharField(max_length=16, choices=BACKFILL_CHOICES, default="idle")
    backfill_cursor = models.JSONField(default=dict, blank=True)
    backfill_items = models.PositiveIntegerField(default=0)
    backfill_started_at = models.DateTimeField(null=True, blank=True)
    backfill_finished_at = models.DateTimeField(null=True, blank=True)
    backfill_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "platform", "external_id"], name="brand_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"

    @property
    def webhook_url(self) -> str:
        """The absolute URL the platform calls with this account's events."""
        base = settings.CAUSERIE_PUBLIC_URL.rstrip("/")
        return f"{base}/api/v1/inbound/{self.pk}/"


class InboundEvent(WorkspaceOwned):
    """A verified webhook body (or polled item) exactly as the platform sent it.

    Stored in one INSERT before anything is parsed, so that nothing a platform delivered
    is lost whatever happens to processing; processing then moves it to ``processed`` or,
    after its retries, to ``failed`` with the error, from where it can be replayed.
    """

    STATUS_CHOICES = [
        ("pending", "Pending"),
        ("processed", "Processed"),
        ("failed", "Failed"),
    ]

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Neither key has an index of its own: every insert maintains each index, and each key
    # leads a composite index below that serves its lookups and cascades
    # (``inbound_event_unique_body``, ``inbound_ws_status``).
    workspace = workspace_key(db_index=False)
    brand_account = models.ForeignKey(
        BrandAccount, on_delete=models.CASCADE, related_name="inbound_events", db_index=False
    )
    platform = models.CharField(max_length=16)
    body = models.BinaryField()
    # SHA-256 of the body: an identical redelivery is stored once.
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand_account", "body_sha256"], name="inbound_event_unique_body"
            )
        ]
        indexes = [
            # The processing queue: the pending rows in claim order. Partial, so that a
            # processed row leaves it instead of adding an entry at its status update.
            models.Index(
                fields=["received_at", "id"],
                condition=models.Q(status="pending"),
                name="inbound_pending",
            ),
            models.Index(fields=["workspace", "status", "-received_at"], name="inbound_ws_status"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.status} {self.received_at:%Y-%m-%d %H:%M:%S}"
