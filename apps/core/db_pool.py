"""The connection pool's health check: only for connections that sat idle.

Django's ``CONN_HEALTH_CHECKS`` with a pool makes psycopg's pool run
``ConnectionPool.check_connection`` on every checkout: one round trip to the database
before each piece of work. A lean chat post checks a connection out once per message on
a worker thread that waits for the interpreter beside a busy event loop, so that round
trip cost every message a wait (docs/performance.md, "Chat streams"). A connection
handed out a moment ago is as good as its use then said (one that broke in use, the pool
drops as it comes back); one that sat idle may have been closed by the server, a proxy or
a restart. So the check probes only connections last handed out CHECK_IDLE_S ago or more
(and those not handed out before).

Django makes the pool (``OPTIONS["pool"]``) and passes its own ``check``, so
``use_idle_check`` puts this one on it (``CONN_HEALTH_CHECKS`` is off).
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg_pool import ConnectionPool

CHECK_IDLE_S = 5.0
_CHECKED_OUT = "_starter_checked_out_at"  # set on each connection as the pool hands it out


def check_if_idle(conn: Any) -> None:
    """The pool's ``check``, run as it hands a connection out: a round trip only when
    the connection's last checkout was CHECK_IDLE_S ago or more (or there was none);
    raises when that finds it broken. Noted at checkout, not at return: psycopg_pool runs
    a ``reset`` callback on a worker thread, so every return would cost a thread hop."""
    now = time.monotonic()
    last = getattr(conn, _CHECKED_OUT, None)
    if last is None or now - last >= CHECK_IDLE_S:
        ConnectionPool.check_connection(conn)
    setattr(conn, _CHECKED_OUT, now)


def use_idle_check(*, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Make the pool of ``connection`` check connections with ``check_if_idle``; a
    ``connection_created`` receiver (``CoreConfig``). Django makes the pool, passing its
    own ``check``, and makes it again when its settings change (a test database), so the
    check is set on each pool as it first hands out a connection (the attribute its
    ``getconn`` calls; psycopg_pool 3.3). Its first connections are new ones, which need
    no check."""
    pool: ConnectionPool[Any] | None = getattr(connection, "pool", None)
    if pool is not None and pool._check is not check_if_idle:
        pool._check = check_if_idle
