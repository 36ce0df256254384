"""The connection pool's health check: only for connections that sat idle.

Django's ``CONN_HEALTH_CHECKS`` with a pool makes psycopg's pool run
``ConnectionPool.check_connection`` on every checkout: one round trip to the database
before each piece of work. A lean chat post checks a connection out once per message on
a worker thread that waits for the interpreter beside a busy event loop, so that round
trip cost every message a wait (docs/performance.md, "Chat streams"). A connection that
went back to the pool a moment ago is as good as the last query on it said; one that sat
idle may have been closed by the server, a proxy or a restart. So the check probes only
connections idle for at least CHECK_IDLE_S (and those never returned yet); the pool
discards a connection found broken as it is returned, as before.

Django makes the pool (``OPTIONS["pool"]``) and passes its own ``check``, so
``use_idle_check`` puts these two callbacks on it (``CONN_HEALTH_CHECKS`` is off).
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg_pool import ConnectionPool

CHECK_IDLE_S = 5.0
_RETURNED = "_starter_returned_at"  # set on each connection as it goes back to the pool


def check_if_idle(conn: Any) -> None:
    """The pool's ``check``: raises when a connection idle for CHECK_IDLE_S is broken."""
    returned = getattr(conn, _RETURNED, None)
    if returned is None or time.monotonic() - returned >= CHECK_IDLE_S:
        ConnectionPool.check_connection(conn)


def note_returned(conn: Any) -> None:
    """The pool's ``reset``: called as a connection goes back to the pool."""
    setattr(conn, _RETURNED, time.monotonic())


def use_idle_check(*, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Make the pool of ``connection`` check connections with ``check_if_idle``; a
    ``connection_created`` receiver (``CoreConfig``). Django makes the pool, passing its
    own ``check``, and makes it again when its settings change (a test database), so the
    callbacks are set on each pool as it first hands out a connection (the attributes
    its ``getconn`` and ``putconn`` call; psycopg_pool 3.3). Its first connections are new
    ones, which need no check."""
    pool: ConnectionPool[Any] | None = getattr(connection, "pool", None)
    if pool is not None and pool._check is not check_if_idle:
        pool._check = check_if_idle
        pool._reset = note_returned
