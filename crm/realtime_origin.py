"""The websocket origin check: browsers' origins must be in ``ALLOWED_HOSTS``.

Channels' ``AllowedHostsOriginValidator`` also refuses connections that send no
``Origin`` at all, which shuts out every non-browser client (mobile apps, servers using
the ``Authorization`` header). The check exists against cross-site websocket hijacking,
which only a browser can be tricked into, and browsers always send ``Origin`` on a
websocket handshake; a client without one still has to authenticate like any other.
"""

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuse (403) a handshake whose ``Origin`` is not one of ``ALLOWED_HOSTS``."""

    def __init__(self, application):
        # An empty list would make Channels refuse everything; follow Django's DEBUG default.
        allowed = list(settings.ALLOWED_HOSTS) or (
            ["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
        )
        super().__init__(application, allowed)

    def valid_origin(self, parsed_origin) -> bool:
        """No ``Origin``: not a browser, so nothing to protect against here."""
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)
