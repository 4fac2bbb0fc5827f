"""Rate limits as fairness between clients, kept in the shared cache (Redis in production)."""

import contextlib

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle


class CredentialRateThrottle(SimpleRateThrottle):
    """One budget per credential (token prefix or session user), else per client address.

    A sliding window approximated by two fixed-window counters (this window's and the
    previous one's, weighted by how much of it still overlaps the last ``duration``
    seconds), kept in the shared cache. DRF's own throttle stores every request's time in
    one cache value that it reads and writes whole on each request: at a credential's
    full rate (6,000 a minute) that is a 50 KB value twice per request. Here a request is
    one increment and one read, a single round trip on Redis.
    """

    scope = "credential"

    def get_cache_key(self, request, view):
        credential = getattr(request, "auth", None)
        if credential is not None and hasattr(credential, "prefix"):
            ident = credential.prefix
        elif request.user and request.user.is_authenticated and request.user.pk:
            ident = f"user:{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window, into = divmod(now, self.duration)
        current_key, previous_key = f"{key}:{int(window)}", f"{key}:{int(window) - 1}"
        current, previous = _count_and_read(current_key, previous_key, 2 * self.duration)
        overlap = 1 - into / self.duration
        if (current - 1) + previous * overlap < self.num_requests:
            return True
        # Refused requests do not use up the budget (as with DRF's throttle).
        _uncount(current_key)
        self._wait = self.duration - into
        return False

    def wait(self):
        return max(1.0, getattr(self, "_wait", self.duration))


def _count_and_read(current_key: str, previous_key: str, timeout: int) -> tuple[int, int]:
    """Increment ``current_key`` (kept ``timeout`` seconds); the counts of both keys."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        cache.add(current_key, 0, timeout=timeout)
        try:
            current = cache.incr(current_key)
        except ValueError:  # expired between add and incr
            cache.set(current_key, 1, timeout=timeout)
            current = 1
        return current, cache.get(previous_key) or 0
    # Django's Redis cache stores integers as plain numbers: INCR and its get() agree.
    current_key = cache.make_and_validate_key(current_key)
    pipe = cache._cache.get_client(write=True).pipeline(transaction=False)
    pipe.incr(current_key)
    pipe.expire(current_key, timeout)
    pipe.get(cache.make_and_validate_key(previous_key))
    current, _, previous = pipe.execute()
    return int(current), int(previous or 0)


def _uncount(current_key: str) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing to give back
        caches["default"].decr(current_key)


class AuthRateThrottle(SimpleRateThrottle):
    """Sign-in attempts per client address: slows password and token guessing."""

    scope = "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
