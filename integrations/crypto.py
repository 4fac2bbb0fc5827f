"""Encryption at rest for platform credentials (Fernet: AES-128-CBC with HMAC-SHA256).

Keys come from ``CAUSERIE_ENCRYPTION_KEYS`` (comma-separated, newest first). Values are
encrypted with the first key and decrypted with any, so a key is rotated by putting the
new one first and running ``manage.py rotate_credentials`` before removing the old one.
"""

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CAUSERIE_ENCRYPTION_KEYS is empty.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    """The MultiFernet of the configured keys, newest first."""
    return _fernet(tuple(settings.CAUSERIE_ENCRYPTION_KEYS))


def encrypt_json(value: Any) -> str:
    """Encrypt a JSON-serialisable value with the newest key."""
    return fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> Any:
    """Decrypt a value written by ``encrypt_json`` with any configured key."""
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "Stored credentials cannot be decrypted with CAUSERIE_ENCRYPTION_KEYS."
        ) from exc


def reencrypt(token: str) -> str:
    """The same value encrypted with the newest key (for key rotation)."""
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored encrypted; never readable from the database or its backups."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return decrypt_json(value)

    def to_python(self, value):
        if isinstance(value, str) and value:
            return decrypt_json(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_json(value)
