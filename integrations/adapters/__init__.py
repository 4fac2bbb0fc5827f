"""Platform adapters: one module per platform, no Django and no database.

``get_adapter(platform)`` returns the stateless adapter of one of the platforms of
API.md (facebook, instagram, whatsapp, x, telegram, youtube, email, api, discourse,
wordpress). The shared
vocabulary (events, replies, errors, the ``Adapter`` protocol) lives in ``base``.
"""

from __future__ import annotations

from .api import ApiAdapter
from .base import (
    Adapter,
    AdapterError,
    Attachment,
    AuthError,
    HandshakeResponse,
    HistoryUnavailable,
    NormalizedEvent,
    OutboundReply,
    PayloadError,
    PolicyError,
    PollResult,
    RateLimited,
    SendResult,
    TransientError,
)
from .discourse import DiscourseAdapter
from .email import EmailAdapter
from .facebook import FacebookAdapter
from .instagram import InstagramAdapter
from .telegram import TelegramAdapter
from .whatsapp import WhatsAppAdapter
from .wordpress import WordPressAdapter
from .x import XAdapter
from .youtube import YouTubeAdapter

_ADAPTERS: dict[str, Adapter] = {
    adapter.platform: adapter
    for adapter in (
        FacebookAdapter(),
        InstagramAdapter(),
        WhatsAppAdapter(),
        XAdapter(),
        TelegramAdapter(),
        YouTubeAdapter(),
        EmailAdapter(),
        ApiAdapter(),
        DiscourseAdapter(),
        WordPressAdapter(),
    )
}

PLATFORMS: tuple[str, ...] = tuple(_ADAPTERS)


def get_adapter(platform: str) -> Adapter:
    """The adapter of ``platform``; ``KeyError`` for a platform Causerie does not speak."""
    try:
        return _ADAPTERS[platform]
    except KeyError:
        raise KeyError(f"unknown platform {platform!r}") from None


__all__ = [
    "PLATFORMS",
    "Adapter",
    "AdapterError",
    "Attachment",
    "AuthError",
    "HandshakeResponse",
    "HistoryUnavailable",
    "NormalizedEvent",
    "OutboundReply",
    "PayloadError",
    "PolicyError",
    "PollResult",
    "RateLimited",
    "SendResult",
    "TransientError",
    "get_adapter",
]
