"""Database work with no request thread of its own runs on a pool of threads: a stream's
database work never waits for another's (apps/core/db.py ``worker_pool``)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from apps.core.asgi import WorkerPoolContext
from apps.core.db import current_tenant_id, in_worker_thread, tenant_context, worker_pool
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user

WAIT_S = 5.0


def _tenant(name: str) -> Tenant:
    owner = make_user(f"pool-{uuid.uuid4().hex[:12]}@example.com")
    return tenant_create(owner=owner, name=name)


def _checked_out() -> int:
    stats = connections["default"].pool.get_stats()  # type: ignore[attr-defined]
    return int(stats["pool_size"] - stats["pool_available"])


@pytest.mark.skipif(not settings.DATABASE_POOL, reason="counts the pool's connections")
def test_two_streams_database_work_overlaps_each_in_its_own_tenant(live_db: None) -> None:
    """Two generations' transactions are open at once (each waits for the other inside
    its own), each sees only its own tenant, and both connections go back to the pool.
    On asgiref's one shared thread (``sync_to_async`` outside a request) the second
    would wait for the first, which waits for it: the barrier breaks."""
    first, second = _tenant("Pool One"), _tenant("Pool Two")
    both_inside = threading.Barrier(2, timeout=WAIT_S)

    def stream_db_work(tenant_id: uuid.UUID) -> tuple[str | None, str | None, str]:
        with tenant_context(tenant_id):
            before = current_tenant_id()
            both_inside.wait()  # the other stream's transaction is open now too
            return before, current_tenant_id(), threading.current_thread().name

    async def two_streams() -> list[tuple[str | None, str | None, str]]:
        work = in_worker_thread(stream_db_work)
        return list(await asyncio.gather(work(first.id), work(second.id)))

    checked_out = _checked_out()
    results = asyncio.run(two_streams())

    assert [r[:2] for r in results] == [(str(first.id),) * 2, (str(second.id),) * 2]
    assert all(name.startswith("db") for _, _, name in results)
    assert results[0][2] != results[1][2]
    assert _checked_out() == checked_out  # both connections were handed back


def test_a_lean_requests_thread_sensitive_calls_do_not_queue_on_one_thread() -> None:
    """Inside ``WorkerPoolContext`` (each lean request) Django's thread-sensitive calls
    (signals, the response's close) run on the worker pool, side by side; the shared
    pool survives the context's end."""
    both_inside = threading.Barrier(2, timeout=WAIT_S)

    def signal_receiver() -> str:
        both_inside.wait()
        return threading.current_thread().name

    async def two_requests() -> list[str]:
        async def one() -> str:
            async with WorkerPoolContext():
                return await sync_to_async(signal_receiver)()

        return list(await asyncio.gather(one(), one()))

    names = asyncio.run(two_requests())

    assert all(name.startswith("db") for name in names)
    assert worker_pool().submit(lambda: 1).result(timeout=WAIT_S) == 1


def test_outside_a_lean_request_thread_sensitive_calls_keep_their_one_thread() -> None:
    """The context changes nothing else: code that needs consecutive calls on one thread
    (``atenant_context``) still gets it outside a lean request."""

    async def two_calls() -> list[str]:
        name = sync_to_async(lambda: threading.current_thread().name)
        return [await name(), await name()]

    first, second = asyncio.run(two_calls())
    assert first == second
    assert not first.startswith("db")


def test_the_pool_has_as_many_threads_as_the_connection_pool() -> None:
    assert worker_pool()._max_workers == settings.DATABASE_THREADS
    if settings.DATABASE_POOL and "DATABASE_THREADS" not in os.environ:
        options = settings.DATABASES["default"]["OPTIONS"]
        assert isinstance(options, dict)
        assert options["pool"]["max_size"] == settings.DATABASE_THREADS
