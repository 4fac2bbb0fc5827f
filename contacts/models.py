"""Contacts (one person) and identities (the person's handle on one platform).

Also what hangs off a contact: notes, the workspace's custom attribute definitions, and
the record of each merge (what moved, so that it can be put back).
"""

from django.db import models
from django.utils import timezone

from crm.ids import uuid7
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

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
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
    # Set while this contact is merged into another one. The row stays (hidden from every
    # read) so that an unmerge can bring it back as it was.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Derived columns, maintained by the services (``contact_denormalize``) on every write
    # so that search and filters work the same on PostgreSQL and SQLite:
    # - search_text: name, email, phone and identity handles, lowercased and without
    #   accents, searched with LIKE (a trigram GIN index serves it on PostgreSQL);
    # - phone_key: the phone's digits, for dedupe across formats;
    # - tag_keys: "|tag|other|" lowercased, for the tag filter without JSON containment
    #   (which SQLite lacks).
    search_text = models.TextField(blank=True, default="")
    phone_key = models.CharField(max_length=32, blank=True, default="")
    tag_keys = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-updated_at", "-id"], name="contact_ws_updated"),
            models.Index(fields=["workspace", "-created_at", "-id"], name="contact_ws_created"),
            models.Index(fields=["workspace", "email"], name="contact_ws_email"),
            models.Index(fields=["workspace", "phone"], name="contact_ws_phone"),
            models.Index(fields=["workspace", "phone_key"], name="contact_ws_phone_key"),
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

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
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
    # The handle lowercased without a leading "@", for duplicates and import dedupe.
    handle_key = models.CharField(max_length=255, blank=True, default="")
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
        indexes = [
            models.Index(fields=["workspace", "handle"], name="identity_ws_handle"),
            models.Index(fields=["workspace", "handle_key"], name="identity_ws_handle_key"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle or self.external_id}"


class AttributeDefinition(WorkspaceOwned):
    """A custom contact attribute of the workspace: its key, label and value type."""

    TYPE_CHOICES = [
        ("text", "Text"),
        ("number", "Number"),
        ("boolean", "Boolean"),
        ("date", "Date"),
        ("url", "URL"),
        ("select", "One of the options"),
        ("multiselect", "Some of the options"),
    ]

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=120)
    type = models.CharField(max_length=16, choices=TYPE_CHOICES)
    options = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="attribute_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.type})"


class Note(WorkspaceOwned):
    """A note a member (or an integration) wrote about a contact."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()
    # The author as the actor that wrote it; kept as text too, so a note outlives its
    # author's membership or key.
    author_type = models.CharField(max_length=16)
    author_id = models.CharField(max_length=64, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-created_at", "-id"], name="note_contact_created")
        ]

    def __str__(self) -> str:
        return f"note on {self.contact_id}"


class ContactMerge(WorkspaceOwned):
    """One merge of ``duplicate`` into ``primary``, with exactly what moved.

    ``moved`` lists the ids of identities, conversations and notes that moved, the tags
    the primary gained and the fields it filled from the duplicate; ``primary_before``
    holds the primary's fields as they were. Unmerge reads both to put things back.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    primary = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    duplicate = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    moved = models.JSONField(default=dict)
    primary_before = models.JSONField(default=dict)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    unmerged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "primary"], name="merge_ws_primary")]

    def __str__(self) -> str:
        return f"{self.duplicate_id} -> {self.primary_id}"
