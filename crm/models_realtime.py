"""Models of the realtime inbox: single-use tickets for opening the websocket."""

from django.db import models
from django.utils import timezone

from .ids import uuid7
from .models import ApiKey, User, WorkspaceOwned


class RealtimeTicket(WorkspaceOwned):
    """A single-use, short-lived credential for opening the inbox websocket from a browser.

    Browsers cannot set headers on a websocket, and a bearer token in a URL ends up in
    logs; a ticket in the query string is worthless once used or after a minute. Only its
    SHA-256 is kept, like every other secret.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    key_hash = models.CharField(max_length=64, unique=True)
    # Exactly one of the two: the member's user, or the API key that asked for it.
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ticket {self.pk} (expires {self.expires_at})"
