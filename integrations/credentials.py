"""Which credentials each platform needs (key names fixed by API.md)."""

REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "facebook": ("page_access_token", "app_secret", "verify_token"),
    "instagram": ("access_token", "app_secret", "verify_token"),
    "whatsapp": ("access_token", "app_secret", "verify_token"),
    "x": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "telegram": ("bot_token",),
    "youtube": ("api_key",),
    "email": ("smtp_host", "smtp_port", "inbound_secret"),
    "api": ("secret", "callback_url"),
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
