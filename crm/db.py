"""Database connection tuning shared by every process.

Django's PostgreSQL backend reads ``timestamptz`` columns through a loader written in
Python (it subclasses psycopg's pure-Python loader to attach the connection's time zone),
which parses each value with a regular expression. An inbox page holds hundreds of
timestamps, and that parsing was a third of the page's time in the inbox profile
(bench/FINDINGS.md). When the connection speaks UTC, as Causerie's always do, psycopg's C
loader yields the very same values (aware, ``datetime.timezone.utc``), about seven times
faster, so it is installed on each new connection instead.

With the connection pool, Django sends ``connection_created`` each time a request takes a
connection from the pool; the loader is installed on a connection the first time only
(installing it again cost 40-60 µs of CPU per request).
"""

from __future__ import annotations

import logging

from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)


def _c_timestamptz_loader():
    """psycopg's C loader for ``timestamptz`` text values, or None without the C build."""
    try:
        from psycopg_binary._psycopg import TimestamptzLoader
    except ImportError:
        try:
            from psycopg_c._psycopg import TimestamptzLoader
        except ImportError:
            return None
    return TimestamptzLoader


def fast_timestamp_loader_install(sender, connection, **kwargs) -> None:
    """Read ``timestamptz`` through psycopg's C loader on a new UTC PostgreSQL connection."""
    if connection.vendor != "postgresql" or connection.timezone_name != "UTC":
        return
    c_loader = _c_timestamptz_loader()
    if c_loader is None:
        return
    from psycopg import adapters, pq
    from psycopg.adapt import Loader

    oid = adapters.types["timestamptz"].oid
    current = connection.connection.adapters.get_loader(oid, pq.Format.TEXT)
    if getattr(current, "installed_from", None) is c_loader:
        return  # a pooled connection taken again: already installed

    class UtcTimestamptzLoader(Loader):
        # Django compares this attribute with the connection's zone before each cursor
        # and re-registers its own loader when they differ.
        timezone = current.timezone
        installed_from = c_loader

        def __init__(self, oid: int, context=None):
            super().__init__(oid, context)
            # psycopg calls ``load`` per value: the C loader's bound method, no Python frame.
            self.load = c_loader(oid, context).load

        def load(self, data):  # replaced per instance in __init__
            raise NotImplementedError

    connection.connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)


def connect_signals() -> None:
    """Tune every database connection Django opens from now on."""
    connection_created.connect(fast_timestamp_loader_install, dispatch_uid="crm.db.timestamptz")
