"""Contacts (one person) and identities (the person's handle on one platform)."""

import uuid

from django.db import models
from django.utils import timezone

from crm.models import Membership, WorkspaceOwned

LIFECYCLE_CHOICES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]


class Contact(WorkspaceOwned):
    """One person the brand talks with, whatever platforms they use."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    company = models.CharField(max_length=255, blank=True)
    lifecycle_stage = models.CharField(max_length=16, choices=LIFECYCLE_CHOICES, blank=True)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Set when the person's personal data was erased; the row stays for counts and timings.
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-updated_at", "-id"], name="contact_ws_updated"),
            models.Index(fields=["workspace", "email"], name="contact_ws_email"),
            models.Index(fields=["workspace", "phone"], name="contact_ws_phone"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or str(self.id)


class Identity(WorkspaceOwned):
    """A contact's handle on one platform, as the platform scopes its ids.

    Messenger PSIDs and Instagram IGSIDs are scoped to one Page or account, so those
    identities carry the brand account they were seen through; global ids (X user ids,
    WhatsApp numbers, email addresses) leave ``brand_account`` empty. ``scope_key`` is the
    brand account id or "" so that the uniqueness holds on every database.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16)
    external_id = models.CharField(max_length=255)
    brand_account = models.ForeignKey(
        "integrations.BrandAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    scope_key = models.CharField(max_length=64, blank=True, default="")
    handle = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "platform", "scope_key", "external_id"],
                name="identity_unique_per_scope",
            )
        ]
        indexes = [models.Index(fields=["workspace", "handle"], name="identity_ws_handle")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle or self.external_id}"
