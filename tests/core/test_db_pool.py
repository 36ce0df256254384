"""The pool checks a connection with a round trip only when it sat idle (apps/core/db_pool.py)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings
from django.db import connections

from apps.core import db_pool


def _connect() -> psycopg.Connection[tuple[object, ...]]:
    params = connections["default"].get_connection_params()
    params.pop("pool", None)
    return psycopg.connect(**params, autocommit=True)


@pytest.mark.django_db
def test_a_connection_handed_out_a_moment_ago_is_not_probed_and_an_idle_one_is() -> None:
    conn = _connect()
    db_pool.check_if_idle(conn)  # never handed out: probed, healthy
    conn.close()  # broken, as a server restart would leave it
    db_pool.check_if_idle(conn)  # handed out just now: trusted, no round trip
    setattr(conn, db_pool._CHECKED_OUT, time.monotonic() - db_pool.CHECK_IDLE_S)
    with pytest.raises(psycopg.OperationalError):
        db_pool.check_if_idle(conn)  # idle: probed, found broken


@pytest.mark.django_db
def test_a_connection_never_handed_out_is_probed() -> None:
    conn = _connect()
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        db_pool.check_if_idle(conn)


@pytest.mark.django_db
@pytest.mark.skipif(not settings.DATABASE_POOL, reason="the pool's options")
def test_the_pool_uses_the_idle_check_instead_of_djangos() -> None:
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False
    connections["default"].ensure_connection()
    pool = connections["default"].pool  # type: ignore[attr-defined]
    assert pool._check is db_pool.check_if_idle
    assert pool._reset is None  # returns stay on the caller's thread
