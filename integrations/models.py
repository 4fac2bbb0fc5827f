"""Brand accounts: a brand's presence on one platform, with its encrypted credentials."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.models import WorkspaceOwned

from .crypto import EncryptedJSONField

PLATFORM_CHOICES = [
    ("facebook", "Facebook"),
    ("instagram", "Instagram"),
    ("whatsapp", "WhatsApp"),
    ("x", "X"),
    ("telegram", "Telegram"),
    ("youtube", "YouTube"),
    ("email", "Email"),
    ("api", "API"),
]
PLATFORMS = tuple(value for value, _ in PLATFORM_CHOICES)


class BrandAccount(WorkspaceOwned):
    """One brand's account on one platform: where conversations come from and replies go."""

    STATUS_CHOICES = [("active", "Active"), ("error", "Error"), ("disabled", "Disabled")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=16, choices=PLATFORM_CHOICES)
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="active")
    last_error = models.TextField(blank=True)
    credentials = EncryptedJSONField(default=dict)
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
