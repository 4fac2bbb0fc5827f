"""Running a transaction again when PostgreSQL chose it as a deadlock's victim.

Writers lock conversation and message rows, then the workspace's event log counter
(``crm.services.events``). An inbound event carrying messages of two conversations locks
the second conversation after the counter, the reverse order of a reply to that
conversation: the two can deadlock, and PostgreSQL aborts one of them after
``deadlock_timeout``. Nothing of the aborted transaction remains, so running it again is
safe and, the other having committed meanwhile, succeeds.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg.errors
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 4


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is PostgreSQL aborting a deadlock's victim."""
    while exc is not None:
        if isinstance(exc, psycopg.errors.DeadlockDetected):
            return True
        exc = exc.__cause__
    return False


def atomic_retrying(fn: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """``fn()`` in ``transaction.atomic()``, run again when it was a deadlock's victim.

    Inside an enclosing transaction it is a savepoint: running it again is enough only when
    the enclosing transaction holds no lock that another writer waits for.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return fn()
        except DatabaseError as exc:
            if attempt == attempts or not is_deadlock(exc):
                raise
            logger.warning("deadlock victim, running the transaction again (%s)", attempt)
    raise AssertionError("unreachable")


def atomic_outlasting_outage(fn: Callable[[], T], *, patience_seconds: float) -> T:
    """``atomic_retrying(fn)``, run again while the database is unreachable, for as long
    as ``patience_seconds``.

    For a write that records what already happened elsewhere and cannot be had again (a
    platform's answer to a send): losing it to a restart of PostgreSQL would leave the
    record wrong for good. Outside a transaction only; the broken connection is dropped
    and the next attempt opens a new one.
    """
    deadline = time.monotonic() + patience_seconds
    pause = 0.25
    while True:
        try:
            return atomic_retrying(fn)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + pause > deadline:
                raise
            logger.warning("database unreachable, writing again in %.2f s", pause)
        with contextlib.suppress(DatabaseError):
            connection.close()
        time.sleep(pause)
        pause = min(pause * 2, 5.0)
