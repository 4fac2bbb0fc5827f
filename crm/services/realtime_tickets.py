"""Single-use tickets for the inbox websocket (``POST realtime/tickets/``).

A ticket stands for the credential that asked for it, in one workspace, for
``CAUSERIE_REALTIME_TICKET_TTL`` (60 s). Consuming it is one conditional UPDATE, so two
connections racing with the same ticket cannot both win, on SQLite as on PostgreSQL.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from ..actors import Actor
from ..models import RealtimeTicket
from .tokens import token_hash

TICKET_KIND = "rt"
# Spent and expired tickets are kept this long so that a reuse is reported as a reuse
# (not as an unknown ticket), then pruned when new tickets are issued.
SPENT_TICKET_KEPT = timedelta(hours=1)


class TicketRefused(Exception):
    """A ticket that cannot open a connection; ``reason`` is invalid, expired or used."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


def realtime_ticket_issue(*, actor: Actor) -> IssuedTicket:
    """Issue a ticket for the actor's credential (a member's user, or an API key)."""
    now = timezone.now()
    RealtimeTicket.objects.filter(expires_at__lt=now - SPENT_TICKET_KEPT).delete()
    ticket = f"{TICKET_KIND}_{secrets.token_urlsafe(32)}"
    expires_at = now + settings.CAUSERIE_REALTIME_TICKET_TTL
    RealtimeTicket.objects.create(
        workspace=actor.workspace,
        key_hash=token_hash(ticket),
        user=actor.membership.user if actor.membership is not None else None,
        api_key=actor.api_key,
        created_at=now,
        expires_at=expires_at,
    )
    return IssuedTicket(ticket=ticket, expires_at=expires_at)


def realtime_ticket_consume(*, ticket: str) -> RealtimeTicket:
    """Spend a ticket and return it, or raise ``TicketRefused`` (invalid, expired, used)."""
    if not ticket or not ticket.startswith(f"{TICKET_KIND}_") or len(ticket) > 200:
        raise TicketRefused("invalid")
    key_hash = token_hash(ticket)
    now = timezone.now()
    spent = RealtimeTicket.objects.filter(
        key_hash=key_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    row = (
        RealtimeTicket.objects.select_related("workspace", "user", "api_key__workspace")
        .filter(key_hash=key_hash)
        .first()
    )
    if spent == 1 and row is not None:
        return row
    if row is None:
        raise TicketRefused("invalid")
    if row.used_at is not None:
        raise TicketRefused("used")
    raise TicketRefused("expired")
