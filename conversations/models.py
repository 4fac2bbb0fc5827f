"""Conversations (one thread with one contact on one platform) and their messages.

A conversation is identified by ``(workspace, brand_account, thread_key)``: the thread key
comes from the platform (``page_id:psid``, ``phone_number_id:wa_id``, ``page_id:post_id``…,
see CHANNELS.md §9.2), so that parallel deliveries of one thread's events find the same row.
A resolved conversation is reopened by the next inbound message rather than replaced, so
the key is unique for the conversation's whole life.

Inbox columns that lists filter and sort on (``last_message_at``, ``waiting_since``,
``unread_count``, the last message preview) are kept on the conversation row by the
services, so that an inbox page is one indexed query whatever its size.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.ids import uuid7
from crm.models import Membership, Team, WorkspaceOwned, workspace_key

KIND_CHOICES = [
    ("direct", "Direct messages"),
    ("comment_thread", "Comment thread"),
    ("mention", "Mention"),
    ("email", "Email"),
]
KINDS = tuple(value for value, _ in KIND_CHOICES)

# ``platform_metadata`` key of a reply whose parent is not stored yet: the parent's id.
ORPHAN_KEY = "awaiting_parent"

STATUS_OPEN = "open"
STATUS_PENDING = "pending"
STATUS_SNOOZED = "snoozed"
STATUS_RESOLVED = "resolved"
STATUS_CHOICES = [
    (STATUS_OPEN, "Open"),
    (STATUS_PENDING, "Pending"),
    (STATUS_SNOOZED, "Snoozed"),
    (STATUS_RESOLVED, "Resolved"),
]
STATUSES = tuple(value for value, _ in STATUS_CHOICES)
# Statuses that count against an agent's cap of open conversations.
ACTIVE_STATUSES = (STATUS_OPEN, STATUS_PENDING)

PRIORITY_CHOICES = [
    ("none", "None"),
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("urgent", "Urgent"),
]
PRIORITIES = tuple(value for value, _ in PRIORITY_CHOICES)

DIRECTION_CHOICES = [("inbound", "Inbound"), ("outbound", "Outbound")]

AUTHOR_TYPE_CHOICES = [
    ("contact", "Contact"),
    ("member", "Member"),
    ("brand", "Brand"),
    ("system", "System"),
]

MESSAGE_STATUS_CHOICES = [
    ("received", "Received"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
]
MESSAGE_STATUSES = tuple(value for value, _ in MESSAGE_STATUS_CHOICES)


class Label(WorkspaceOwned):
    """A workspace-wide tag put on conversations (``billing``, ``vip``…)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=80)
    color = models.CharField(max_length=16, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Conversation(WorkspaceOwned):
    """One thread with one contact through one brand account, and its workflow state."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Every index below leads with the workspace. Ingest rewrites a conversation's inbox
    # columns for each new message, never as a HOT update (they are indexed), so each
    # index of the table is one more entry written per message.
    workspace = workspace_key(db_index=False)
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="conversations"
    )
    brand_account = models.ForeignKey(
        "integrations.BrandAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    platform = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default="direct")
    # The platform's identity of the thread (CHANNELS.md §9.2); "" for conversations that
    # were started by hand and have no platform thread yet.
    thread_key = models.CharField(max_length=255, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")

    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=STATUS_OPEN)
    priority = models.CharField(max_length=16, choices=PRIORITY_CHOICES, default="none")
    assignee = models.ForeignKey(
        Membership,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    snoozed_until = models.DateTimeField(null=True, blank=True)

    # Inbox columns, maintained by the services.
    last_message_at = models.DateTimeField(default=timezone.now)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    # The oldest inbound message not answered yet; null when the brand spoke last. The
    # default inbox order ("waiting longest first") sorts on it.
    waiting_since = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    last_message_preview = models.CharField(max_length=200, blank=True, default="")
    last_message_direction = models.CharField(max_length=16, blank=True, default="")

    # Service levels, in business seconds (see services/sla.py).
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_response_count = models.PositiveIntegerField(default=0)
    next_response_seconds_total = models.PositiveBigIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One conversation per platform thread: parallel webhooks for one thread race
            # on this constraint instead of creating duplicates (CHANNELS.md §9.4.2).
            models.UniqueConstraint(
                fields=["workspace", "brand_account", "thread_key"],
                condition=~Q(thread_key=""),
                name="conversation_unique_thread",
            ),
        ]
        indexes = [
            # Default inbox: open conversations, waiting longest first (keyset on id).
            models.Index(
                fields=["workspace", "status", "waiting_since", "id"], name="conv_ws_status_wait"
            ),
            # "Most recent activity" order, with and without a status filter.
            models.Index(
                fields=["workspace", "status", "-last_message_at", "-id"],
                name="conv_ws_status_recent",
            ),
            models.Index(fields=["workspace", "-last_message_at", "-id"], name="conv_ws_recent"),
            # "Mine" / an agent's queue, and the auto-assignment cap count.
            models.Index(
                fields=["workspace", "assignee", "status", "waiting_since"],
                name="conv_ws_assignee",
            ),
            models.Index(
                fields=["workspace", "team", "status", "waiting_since"], name="conv_ws_team"
            ),
            models.Index(
                fields=["workspace", "contact", "-last_message_at"], name="conv_ws_contact"
            ),
            models.Index(fields=["workspace", "-updated_at", "-id"], name="conv_ws_updated"),
            # The beat task's scan for snoozes that are due.
            models.Index(
                fields=["snoozed_until"],
                condition=Q(status=STATUS_SNOOZED),
                name="conv_snoozed_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.thread_key or self.pk}"


class Message(WorkspaceOwned):
    """One message, comment, reply or private note of a conversation.

    ``parent`` threads comment replies (any depth) and quoted replies. Inbound and echoed
    messages carry the platform's ``external_id``, unique per brand account, so that a
    redelivered webhook finds the row it already made.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # msg_ws_created and msg_conv_created lead with these two: no index of their own.
    workspace = workspace_key(db_index=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Copied from the conversation so that the idempotency constraint is on one table.
    brand_account = models.ForeignKey(
        "integrations.BrandAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    direction = models.CharField(max_length=16, choices=DIRECTION_CHOICES)
    private = models.BooleanField(default=False)
    author_type = models.CharField(max_length=16, choices=AUTHOR_TYPE_CHOICES)
    author_id = models.CharField(max_length=255, blank=True, default="")
    author_name = models.CharField(max_length=255, blank=True, default="")
    author_member = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True, default="")
    # Metadata and URLs only (kind, url, mime, size, caption…); never the bytes.
    attachments = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=255, blank=True, default="")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    status = models.CharField(max_length=16, choices=MESSAGE_STATUS_CHOICES, default="received")
    # {"code": ..., "message": ...} of the platform when a send failed.
    error = models.JSONField(null=True, blank=True)
    # Sending hints for the adapter: the Meta message tag a reply needs (``HUMAN_AGENT``
    # between 24 h and 7 days), our correlation token for echoes and statuses.
    message_tag = models.CharField(max_length=32, blank=True, default="")
    client_ref = models.CharField(max_length=64, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # What the platform says about the message beyond its text: a blog comment's
    # moderation status, a forum post's number in its topic.
    platform_metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Ingest is idempotent: a redelivered platform event maps to the same message.
            models.UniqueConstraint(
                fields=["brand_account", "external_id"],
                condition=~Q(external_id=""),
                name="message_unique_external_id",
            ),
        ]
        indexes = [
            # The conversation's messages oldest first, keyset on (created_at, id).
            models.Index(fields=["conversation", "created_at", "id"], name="msg_conv_created"),
            # The contact timeline and the workspace feed, newest first.
            models.Index(fields=["workspace", "-created_at", "-id"], name="msg_ws_created"),
            # Replies waiting for their parent, which ingest looks up for every new
            # message: a few rows, where the conversations' messages are thousands.
            models.Index(
                fields=["conversation"],
                condition=Q(parent__isnull=True, platform_metadata__has_key=ORPHAN_KEY),
                name="msg_awaiting_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.pk}"


class Reaction(WorkspaceOwned):
    """Who reacted to a message with what, and when; removing a reaction deletes the row."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    author_type = models.CharField(max_length=16, choices=AUTHOR_TYPE_CHOICES)
    author_id = models.CharField(max_length=255, blank=True, default="")
    author_name = models.CharField(max_length=255, blank=True, default="")
    reaction = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "author_type", "author_id", "reaction"],
                name="reaction_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reaction} by {self.author_type}:{self.author_id}"


class MessageEdit(WorkspaceOwned):
    """An earlier text of an edited message: every version is kept."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    previous_text = models.TextField(blank=True, default="")
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["message", "edited_at"], name="msgedit_message")]

    def __str__(self) -> str:
        return f"edit of {self.message_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class CannedResponse(WorkspaceOwned):
    """A saved reply; ``{{contact.name}}``, ``{{agent.name}}``… are filled in when used."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=120)
    text = models.TextField()
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="canned_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
