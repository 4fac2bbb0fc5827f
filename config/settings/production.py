"""Production: everything from the environment; refuses to start when unsafe."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEBUG, SECRET_KEY, env

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production.")
if not env.list("CAUSERIE_ENCRYPTION_KEYS", default=[]):
    raise ImproperlyConfigured(
        "CAUSERIE_ENCRYPTION_KEYS must be set in production (Fernet keys, newest first)."
    )
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading commits the domain and all its subdomains to HTTPS in every browser for months
# and is slow to undo, so it is the operator's decision: SECURE_HSTS_PRELOAD=1 (with
# SECURE_HSTS_SECONDS of at least a year, as the preload list requires). Left off, Django's
# reminder about it (security.W021) is silenced: off is a decision, not an oversight, and
# `check --deploy` stays clean so that any other warning stands out.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True

# Inbound webhooks sent longer ago than this (by Meta's entry times, X's event times) are
# replays and refused: longer than every documented redelivery (Meta 36 h, WhatsApp 7 days
# but without a time to check, X's Replay API 5 days). 0 turns the check off.
_replay_days = env.int("CAUSERIE_WEBHOOK_REPLAY_DAYS", default=7)
CAUSERIE_WEBHOOK_REPLAY_WINDOW = timedelta(days=_replay_days) if _replay_days else None
