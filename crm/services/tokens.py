"""Bearer secrets: generation, hashing and lookup, shared by API keys and personal tokens."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

API_KEY_KIND = "ck"
PERSONAL_TOKEN_KIND = "pt"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly generated secret: ``token`` is shown once, the rest is stored."""

    token: str
    prefix: str
    key_hash: str


def token_hash(token: str) -> str:
    """The SHA-256 hex digest stored in place of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_issue(*, kind: str) -> IssuedToken:
    """Generate ``<kind>_<prefix>_<secret>`` with a 48-bit public prefix and 256-bit secret."""
    prefix = f"{kind}_{secrets.token_hex(6)}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedToken(token=token, prefix=prefix, key_hash=token_hash(token))


def token_split(token: str) -> tuple[str, str] | None:
    """Return ``(kind, prefix)`` of a well-formed token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] not in (API_KEY_KIND, PERSONAL_TOKEN_KIND):
        return None
    if len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[0], f"{parts[0]}_{parts[1]}"


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(token_hash(token), stored_hash)
