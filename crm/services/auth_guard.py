"""Brute-force guard: failed credentials per client address, counted in the shared cache.

Every way of presenting a secret (bearer API keys and personal tokens, realtime tickets,
websocket bearer headers, email and password sign-in) runs inside ``failures_counted``.
A client address that fails ``CAUSERIE_AUTH_FAILURE_LIMIT`` times within a window of
``CAUSERIE_AUTH_FAILURE_WINDOW`` seconds is refused (429, ``Retry-After``) until the
window ends, whatever it presents, so that guessing cannot go on, valid guesses included.
The counters live in the Django cache, which is Redis when ``REDIS_URL`` is set: the bound
holds across every web and websocket process.
"""

import contextlib
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

from ..exceptions import TooManyAttempts


def _window() -> tuple[int, int]:
    """The current fixed window's number and the seconds left in it."""
    length = int(settings.CAUSERIE_AUTH_FAILURE_WINDOW)
    now = time.time()
    return int(now // length), max(1, int(length - now % length + 0.999))


def _key(client: str, window: int) -> str:
    return f"causerie:auth-failures:{client}:{window}"


def auth_failures_check(*, client: str) -> None:
    """Raise ``TooManyAttempts`` if ``client`` has used up its failures in this window."""
    if not client:
        return
    window, remaining = _window()
    if (cache.get(_key(client, window)) or 0) >= settings.CAUSERIE_AUTH_FAILURE_LIMIT:
        raise TooManyAttempts(
            "Too many failed attempts to authenticate; retry later.",
            retry_after=remaining,
        )


def auth_failure_record(*, client: str) -> None:
    """Count one failed attempt of ``client`` in the current window."""
    if not client:
        return
    window, _ = _window()
    key = _key(client, window)
    timeout = int(settings.CAUSERIE_AUTH_FAILURE_WINDOW) + 1
    cache.add(key, 0, timeout=timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)


@contextlib.contextmanager
def failures_counted(*, client: str, refusals: tuple[type[Exception], ...]) -> Iterator[None]:
    """Refuse a client over its bound; count a failure when the block raises ``refusals``."""
    auth_failures_check(client=client)
    try:
        yield
    except refusals:
        auth_failure_record(client=client)
        raise
