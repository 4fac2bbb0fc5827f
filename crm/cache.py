"""Django's Redis cache backend, keeping one Redis client per connection pool.

Django's backend builds a new ``redis.Redis`` for every cache call, and each one copies
redis-py's table of about 170 response callbacks: a third of a millisecond of CPU per
call, twice per API request (the brute-force guard's read, the rate limit's round trip),
for an object that holds no state of its own. A client shares its pool's connections
and is safe to use from several threads, so one per pool serves every call.
"""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    """Django's client that builds its ``redis.Redis`` once per connection pool."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with ``RedisCacheClient``."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
