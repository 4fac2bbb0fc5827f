import unicodedata

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def fold(value: str | None) -> str | None:
    """Lowercase without accents (``Échanger`` -> ``echanger``), for SQLite's search."""
    if value is None:
        return None
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _sqlite_functions(sender, connection, **kwargs) -> None:
    # PostgreSQL gets causerie_unaccent from migration 0002; the embedded SQLite default
    # gets a Python one, so that search ignores accents there too.
    if connection.vendor == "sqlite":
        connection.connection.create_function("causerie_unaccent", 1, fold, deterministic=True)


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations and messages"

    def ready(self) -> None:
        connection_created.connect(_sqlite_functions, dispatch_uid="conversations.sqlite")
