"""The shared cache on Redis, degrading to cache misses while Redis is down.

Django's own `RedisCache` raises the client's ConnectionError or TimeoutError from every call,
which would turn a Redis outage into a 500 on every page that caches, counts or loads a
session. Nothing the site keeps only in the cache is worth an error page: sessions are
database-backed (`cached_db`), login lockouts are in the database (django-axes' database
handler), cached pages and counts are recomputed. So while Redis does not answer, reads miss,
writes are dropped, and a warning is logged once per outage; after `RETRY_AFTER` seconds the
next call tries Redis again. `/readyz` reports the cache as unavailable meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: Seconds after a failure during which calls do not wait for Redis but miss at once.
RETRY_AFTER = 2.0
#: What "Redis is down" looks like from the client (refused, reset, timed out, unknown host).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

T = TypeVar("T")


class ResilientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose calls miss instead of raising while
    Redis is unreachable (see the module's docstring)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = params.setdefault("OPTIONS", {})
        # A hung Redis must not hold a request for long: fail fast, then miss.
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        super().__init__(server, params)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def _call(self, operation: Callable[[], T], fallback: T) -> T:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            result = operation()
        except UNAVAILABLE as error:
            with self._lock:
                first = self._down_until == 0.0
                self._down_until = time.monotonic() + RETRY_AFTER
            if first:
                logger.warning("The cache (Redis) does not answer; serving misses: %s", error)
            return fallback
        if self._down_until:
            with self._lock:
                self._down_until = 0.0
            logger.warning("The cache (Redis) answers again")
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: RedisCache.add(self, key, value, timeout, version), False)

    def get(self, key, default=None, version=None):
        return self._call(lambda: RedisCache.get(self, key, default, version), default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._call(lambda: RedisCache.set(self, key, value, timeout, version), None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: RedisCache.touch(self, key, timeout, version), False)

    def delete(self, key, version=None):
        return self._call(lambda: RedisCache.delete(self, key, version), False)

    def get_many(self, keys, version=None):
        return self._call(lambda: RedisCache.get_many(self, keys, version), {})

    def has_key(self, key, version=None):
        return self._call(lambda: RedisCache.has_key(self, key, version), False)

    def incr(self, key, delta=1, version=None):
        missing = object()
        result = self._call(lambda: RedisCache.incr(self, key, delta, version), missing)
        if result is missing:
            # As for a key that is not there, which callers already handle (e.g. by setting it).
            raise ValueError(f"Key {key!r} not found: the cache is unavailable")
        return result

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: RedisCache.set_many(self, data, timeout, version), list(data))

    def delete_many(self, keys, version=None):
        self._call(lambda: RedisCache.delete_many(self, keys, version), None)

    def clear(self):
        self._call(lambda: RedisCache.clear(self), None)
