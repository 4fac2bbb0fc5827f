"""Which credentials each platform needs (key names fixed by API.md)."""

from urllib.parse import urlsplit

REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "facebook": ("page_access_token", "app_secret", "verify_token"),
    "instagram": ("access_token", "app_secret", "verify_token"),
    "whatsapp": ("access_token", "app_secret", "verify_token"),
    "x": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "telegram": ("bot_token",),
    "youtube": ("api_key",),
    "email": ("smtp_host", "smtp_port", "inbound_secret"),
    "api": ("secret", "callback_url"),
    "discourse": ("api_key", "api_username", "webhook_secret"),
    "wordpress": ("username", "application_password"),
}

OPTIONAL_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "telegram": ("secret_token",),
    "youtube": ("access_token",),
    "email": ("smtp_username", "smtp_password"),
}


def credentials_missing(platform: str, credentials: dict) -> list[str]:
    """The required credential keys that are absent or empty."""
    return [key for key in REQUIRED_CREDENTIALS.get(platform, ()) if not credentials.get(key)]


def credentials_unknown(platform: str, credentials: dict) -> list[str]:
    """Keys that the platform does not use (probably a typo of a real one)."""
    known = set(REQUIRED_CREDENTIALS.get(platform, ())) | set(
        OPTIONAL_CREDENTIALS.get(platform, ())
    )
    return sorted(set(credentials) - known)


# Platforms whose account is a site of its own: ``external_id`` is its base URL, which
# the platform's API lives under.
SITE_PLATFORMS = frozenset({"discourse", "wordpress"})


def site_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable site base URL (http or https, a host, no query), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return "Not a URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "An http or https URL with a host, such as https://forum.example.com."
    if parts.username or parts.password or parts.query or parts.fragment:
        return "The site's base URL only: no credentials, query or fragment."
    return None
