"""Text folding shared by search, filters and dedupe, so that writes and reads agree.

Folding lowercases (``casefold``) and strips accents (Unicode NFKD without combining
marks): "José GARCÍA" and "jose garcia" fold to the same text on every database, without
relying on PostgreSQL's ``unaccent`` or SQLite's ASCII-only ``LIKE``.
"""

import re
import unicodedata

PHONE_RE = re.compile(r"^\+?[0-9 ().\-/]{4,32}$")
_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """``text`` lowercased, without accents, with runs of whitespace made one space."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def phone_digits(phone: str | None) -> str:
    """The digits of a phone number, the form phones are compared in."""
    return "".join(ch for ch in (phone or "") if ch.isdigit())


def looks_like_phone(text: str) -> bool:
    """Whether a search term is a phone number (digits and phone punctuation only)."""
    return bool(PHONE_RE.match(text.strip())) and len(phone_digits(text)) >= 4


def handle_key(handle: str | None) -> str:
    """A handle as it is compared across platforms: folded, without a leading "@"."""
    return fold(handle).lstrip("@")


def email_key(email: str | None) -> str:
    """An email address as it is stored and compared: trimmed and lowercased."""
    return (email or "").strip().lower()


def tag_clean(tag: str) -> str:
    """A tag as stored: trimmed, inner whitespace collapsed (case is kept for display)."""
    return _SPACES.sub(" ", str(tag)).strip()


def tags_key(tags: list[str]) -> str:
    """The ``tag_keys`` column: ``|tag|other|`` folded, so one LIKE finds a whole tag."""
    return "|" + "|".join(fold(t) for t in tags) + "|" if tags else ""


def search_terms(q: str) -> list[str]:
    """The folded terms a ``q`` must all match; a phone-like ``q`` is one digits term."""
    if looks_like_phone(q):
        return [phone_digits(q)]
    return [term.lstrip("@") or term for term in fold(q).split(" ") if term]
