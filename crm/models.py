"""The tenant (workspace), the people who work in it, their credentials, and the event log."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from . import scopes
from .ids import uuid7


class UserManager(BaseUserManager["User"]):
    """Users sign in with their email address."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in; belongs to workspaces through memberships."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email


class Workspace(models.Model):
    """The tenant: one brand's CRM. Every other row belongs to exactly one workspace."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    # Inbox settings. When on, agents see only their teams' conversations and their own.
    agents_see_only_their_teams = models.BooleanField(default=False)
    # When on, only the assignee replies to an assigned conversation: others get 409
    # ``assignee_lock`` (private notes stay open to all). Off: replies are accepted and
    # carry a collision warning when another member is typing there.
    replies_require_assignee = models.BooleanField(default=False)
    # Service-level clocks count business hours only, in this time zone; an empty
    # ``business_hours`` means always open. Shape: {"mon": [["09:00", "17:30"]], ...}.
    timezone = models.CharField(max_length=64, default="UTC")
    business_hours = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.slug


def workspace_key(*, db_index: bool = True) -> models.ForeignKey:
    """The ``workspace`` column of a tenant-owned model.

    ``db_index=False`` for a table whose own indexes all lead with the workspace: a
    separate index on it would serve no query and cost every insert, and every update
    that is not HOT, one more index entry.
    """
    return models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=db_index
    )


class WorkspaceOwned(models.Model):
    """Abstract base of every tenant-owned model: a non-null, indexed workspace."""

    workspace = workspace_key()

    class Meta:
        abstract = True


class Membership(WorkspaceOwned):
    """A user's place in a workspace, with a role that decides what the user may do."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=scopes.ROLE_CHOICES)
    # Agents mark themselves unavailable (away, off shift) to stop receiving new assignments.
    is_available = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.workspace_id} ({self.role})"

    @property
    def scopes(self) -> frozenset[str]:
        return scopes.ROLE_SCOPES[self.role]


class Team(WorkspaceOwned):
    """A group of members that conversations can be routed to."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=120)
    members = models.ManyToManyField(Membership, related_name="teams", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Automatic assignment: round robin among available members, each holding at most
    # ``max_open_per_agent`` open or pending conversations (no cap when null).
    auto_assign = models.BooleanField(default=False)
    max_open_per_agent = models.PositiveIntegerField(null=True, blank=True)
    # The round robin's position: the member who got the team's last assignment.
    last_assigned_member = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="team_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class HashedToken(models.Model):
    """A bearer secret: only its SHA-256 and a visible prefix are kept.

    Tokens carry 256 bits of randomness, so a fast hash is safe: nothing can be guessed
    faster than the token itself, and authentication stays one indexed lookup.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class ApiKey(WorkspaceOwned, HashedToken):
    """A workspace credential for integrations, limited to the scopes it was given."""

    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class PersonalToken(HashedToken):
    """A member's own bearer token: acts as the user, with each workspace role's scopes."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class AuditLogEntry(WorkspaceOwned):
    """Who did which administrative action to what, and when."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="audit_ws_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name}"


class EventSequence(models.Model):
    """The last `seq` handed out in a workspace.

    Writers increment it inside their transaction; the row lock they take is held until
    commit, so the next writer gets the next number only after the previous one is
    visible. Readers therefore never see a later `seq` before an earlier one, and a rolled
    back transaction gives its numbers back.
    """

    workspace = models.OneToOneField(
        Workspace, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.last_seq}"


class Event(WorkspaceOwned):
    """One entry of the workspace's event log: the outbox of every change."""

    workspace = workspace_key(db_index=False)  # event_unique_seq leads with it
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "seq"], name="event_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq}"


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an `Idempotency-Key`, replayed on retries."""

    id = models.BigAutoField(primary_key=True)
    # The credential that sent the key: keys of different clients never collide.
    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.principal}: {self.key}"


# The inbox websocket's tickets live in their own module; importing them registers them.
from .models_realtime import RealtimeTicket  # noqa: E402, F401

# Outbound webhooks live in their own module; importing them here registers them.
from .models_webhooks import WebhookDelivery, WebhookSubscription  # noqa: E402, F401
