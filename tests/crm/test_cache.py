"""The Redis cache backend keeps one client per connection pool and still serves every
thread (the brute-force guard and the rate limit count through it)."""

import threading

import pytest
from django.conf import settings
from django.core.cache import caches

from crm.cache import RedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


def test_counts_from_several_threads_add_up_through_one_client():
    cache = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "cache-test"})
    cache.set("hits", 0, timeout=60)
    clients = []

    def count():
        for _ in range(50):
            cache.incr("hits")
        clients.append(cache._cache.get_client(write=True))

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.get("hits") == 200
    assert len({id(client) for client in clients}) == 1
    cache.delete("hits")


def test_the_configured_cache_is_this_backend():
    assert isinstance(caches["default"], RedisCache)
