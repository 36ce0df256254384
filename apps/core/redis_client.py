"""Redis clients.

- ``get_redis``: the async client, one per event loop (a client's connections belong
  to the loop that opened them).
- ``SharedConnectionPool``: the sync connection pool of Django's cache, shared by every
  thread of the process.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

# Process-wide state ---------------------------------------------------------------------
# _clients: event loop -> its async client (a client's connections belong to the loop
#   that opened them); a loop's entry goes with the loop (weak keys). Used from event
#   loops only.
# SharedConnectionPool._pools: the sync pools of Django's cache, one per URL and options,
#   shared by every thread of the process (made under a lock; redis-py pools are
#   thread-safe and reset themselves after a fork).
# _sync_clients: Redis URL -> the sync client on its shared pool (``sync_redis``).
# Per process because connections are. Tests reset nothing: each test's loop gets its own
# client, and the sync pools serve every test.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis[bytes]] = (
    weakref.WeakKeyDictionary()
)
_sync_clients: dict[str, redis.Redis[bytes]] = {}


def get_redis() -> aioredis.Redis[bytes]:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # A burst (hundreds of chats starting at once) waits briefly for a connection
        # instead of failing; a reader tailing a stream holds one while it blocks.
        pool: aioredis.BlockingConnectionPool[aioredis.Connection] = (
            aioredis.BlockingConnectionPool.from_url(
                settings.REDIS_URL,
                max_connections=settings.REDIS_MAX_CONNECTIONS,
                timeout=5,
                socket_connect_timeout=2,
                socket_timeout=5,
            )
        )
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


def sync_redis() -> redis.Redis[bytes]:
    """A sync client on the process's shared pool (for locks and keys outside the cache).
    One per URL: making a client costs ~90 µs of Python (its response callbacks, the
    pool's key), which the ledger journal's threads paid on every batch, holding the GIL
    beside the event loop."""
    url = settings.REDIS_URL
    client = _sync_clients.get(url)
    if client is None:
        pool = SharedConnectionPool.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        # Two threads may both make one: either serves, the last is kept.
        client = _sync_clients[url] = redis.Redis(connection_pool=pool)
    return client


class SharedConnectionPool(redis.ConnectionPool):
    """Django's Redis cache makes a connection pool per cache object, and under ASGI
    every request gets its own cache object on its own thread: each request would open
    a fresh TCP connection. As the cache's ``pool_class``, this hands out one pool per
    URL and options for the whole process (redis-py pools are thread-safe and reset
    themselves after a fork). It blocks up to 5 s for a free connection when
    REDIS_MAX_CONNECTIONS threads use the cache at once, rather than failing."""

    _pools: dict[str, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = f"{url}|{sorted(kwargs.items(), key=lambda item: item[0])!r}"
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = redis.BlockingConnectionPool.from_url(
                    url, max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=5, **kwargs
                )
            return pool
