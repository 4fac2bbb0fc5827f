"""Reply windows: whether the platform lets the brand answer a conversation now.

Derived from the last *inbound* message only (CHANNELS.md §9.4.5): the brand's own
messages and echoes never reopen a window.

- Messenger and Instagram direct messages: 24 hours after the customer's last message;
  up to 7 days with the ``HUMAN_AGENT`` message tag, which only human agents may use.
- WhatsApp: the 24-hour customer service window; outside it only templates, which
  Causerie does not send.
- Public comment threads, mentions, email and the other platforms: no window.
"""

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from crm.times import iso

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"

META_MESSAGING = ("facebook", "instagram")


def _window(open_: bool, expires_at: datetime | None, reason: str) -> dict[str, Any]:
    return {
        "open": open_,
        "expires_at": iso(expires_at),
        "reason": reason,
    }


def reply_window(conversation, *, now: datetime | None = None) -> dict[str, Any]:
    """``{"open", "expires_at", "reason"}`` for a reply to ``conversation`` at ``now``.

    Reasons: ``no_window`` (the platform has none), ``no_inbound_message`` (the customer
    never wrote), ``standard_window``, ``human_agent_window`` (a reply goes out with the
    ``HUMAN_AGENT`` tag), ``customer_service_window`` (WhatsApp), ``window_expired``.
    """
    return reply_window_of(
        platform=conversation.platform,
        kind=conversation.kind,
        last_inbound_at=conversation.last_inbound_at,
        now=now,
    )


def reply_window_of(
    *, platform: str, kind: str, last_inbound_at: datetime | None, now: datetime | None = None
) -> dict[str, Any]:
    """``reply_window`` from the three columns it depends on (for rows read as values)."""
    now = now or timezone.now()
    if kind != "direct" or platform not in (*META_MESSAGING, "whatsapp"):
        return _window(True, None, "no_window")
    if last_inbound_at is None:
        return _window(False, None, "no_inbound_message")
    standard_end = last_inbound_at + STANDARD_WINDOW
    if platform == "whatsapp":
        if now < standard_end:
            return _window(True, standard_end, "customer_service_window")
        return _window(False, standard_end, "window_expired")
    if now < standard_end:
        return _window(True, standard_end, "standard_window")
    human_end = last_inbound_at + HUMAN_AGENT_WINDOW
    if now < human_end:
        return _window(True, human_end, "human_agent_window")
    return _window(False, human_end, "window_expired")


def reply_message_tag(conversation, *, now: datetime | None = None) -> str:
    """The message tag a reply sent now needs ("" within the standard window)."""
    if reply_window(conversation, now=now)["reason"] == "human_agent_window":
        return HUMAN_AGENT_TAG
    return ""
