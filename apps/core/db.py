"""The tenant database context: the one place that tells PostgreSQL whose rows are visible.

Row-level security policies compare each row's ``tenant_id`` with the transaction-local
setting ``app.tenant_id`` (and, for memberships, ``user_id`` with ``app.user_id``).
``tenant_context`` opens a transaction (a savepoint when nested), sets the values with
``set_config(..., is_local => true)`` and restores the previous ones on exit, so the
setting never leaks to the next user of a pooled connection (safe with pgbouncer in
transaction mode). With no context set, the policies match no row: fail closed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast

from apps.core.logging import bind_log_context

TENANT_SETTING = "app.tenant_id"
USER_SETTING = "app.user_id"

_Id = uuid.UUID | str | int
T = TypeVar("T")


def _as_text(value: _Id | None) -> str:
    return "" if value is None else str(value)


def _set_settings(using: str, values: dict[str, str]) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(values)),
            [item for name, value in values.items() for item in (name, value)],
        )


def _current_settings(using: str, names: list[str]) -> dict[str, str]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s, true)"] * len(names)), names)
        return dict(zip(names, (v or "" for v in cursor.fetchone()), strict=True))


@contextmanager
def _rls_context(values: dict[str, str], using: str) -> Iterator[None]:
    outermost = not connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if outermost:
            # The transaction's end clears transaction-local settings: one round trip.
            _set_settings(using, values)
            yield
            return
        previous = _current_settings(using, list(values))
        _set_settings(using, values)
        yield
        # Reached only when the block succeeded; on an exception the savepoint
        # rollback already restores the previous values.
        _set_settings(using, previous)


def _tenant_values(tenant_id: _Id, user_id: _Id | None) -> dict[str, str]:
    if not tenant_id:
        raise ValueError("tenant_context needs a tenant id")
    values = {TENANT_SETTING: _as_text(tenant_id)}
    if user_id is not None:
        values[USER_SETTING] = _as_text(user_id)
    return values


@contextmanager
def tenant_context(
    tenant_id: _Id, *, user_id: _Id | None = None, using: str = "default"
) -> Iterator[None]:
    """Make ``tenant_id``'s rows visible inside the block (a transaction).

    Call only after checking that the caller may act for this tenant: membership for
    a person, the ``tenant_id`` argument for a Celery task, the key's tenant for an API key.
    """
    with (
        _rls_context(_tenant_values(tenant_id, user_id), using),
        bind_log_context(tenant_id=str(tenant_id)),
    ):
        yield


@contextmanager
def setting_context(values: dict[str, str], *, using: str = "default") -> Iterator[None]:
    """Set arbitrary ``app.*`` settings for the block. Prefer the named contexts."""
    if any(not name.startswith("app.") for name in values):
        raise ValueError("only app.* settings may be set")
    with _rls_context(values, using):
        yield


@contextmanager
def user_context(user_id: _Id, *, using: str = "default") -> Iterator[None]:
    """Make the user's own memberships (and so the list of their tenants) visible."""
    with _rls_context({USER_SETTING: _as_text(user_id)}, using):
        yield


def lookup_may_enter(using: str = "default") -> bool:
    """Whether the lookup that finds the tenant may also enter it (``set_by_lookup``),
    saving ``enter_tenant`` its round trip: only in the outermost transaction, whose end
    clears the setting. Nested, ``enter_tenant`` is a savepoint that restores the value it
    found on exit, and a value set by the lookup would outlive the block."""
    return len(connections[using].atomic_blocks) == 1


def set_by_lookup(column: str = "tenant_id") -> Func:
    """For a lookup's SELECT list: set ``app.tenant_id`` to the row's ``column`` as the
    row is read (after the WHERE clause chose it); its value is the id it set. Annotate a
    lookup of one row, when ``lookup_may_enter()``, then pass the value to
    ``enter_tenant(entered=...)``."""
    return Func(
        Value(TENANT_SETTING),
        Cast(F(column), output_field=TextField()),
        Value(True),
        function="set_config",
        output_field=TextField(),
    )


@contextmanager
def enter_tenant(
    tenant_id: _Id,
    *,
    user_id: _Id | None = None,
    using: str = "default",
    entered: str | None = None,
) -> Iterator[None]:
    """Inside another RLS context (``user_context``), go on as ``tenant_id``.

    For a request that found the membership inside ``user_context``: in the outermost
    transaction this is one round trip and no second transaction, and the tenant stays
    visible until that transaction ends; none at all when the lookup set it already
    (``entered``: what ``set_by_lookup`` returned, checked against ``tenant_id``; the
    user is ``user_context``'s). Nested deeper (a test's transaction, a caller's atomic
    block) it is ``tenant_context``: a savepoint, restored on exit. Same checks as
    ``tenant_context`` come first.
    """
    if entered is not None:
        if entered != _as_text(tenant_id) or not lookup_may_enter(using):
            raise ValueError("the lookup entered another tenant, or inside a nested block")
        with bind_log_context(tenant_id=str(tenant_id)):
            yield
        return
    if len(connections[using].atomic_blocks) != 1:
        with tenant_context(tenant_id, user_id=user_id, using=using):
            yield
        return
    _set_settings(using, _tenant_values(tenant_id, user_id))
    with bind_log_context(tenant_id=str(tenant_id)):
        yield


@asynccontextmanager
async def atenant_context(
    tenant_id: _Id, *, user_id: _Id | None = None, using: str = "default"
) -> AsyncIterator[None]:
    """Async form of ``tenant_context`` for async views and consumers.

    Django runs async ORM calls on the request's thread-sensitive executor, so the
    transaction opened here is the one those calls use. Keep the block short: it
    holds a transaction open, so never wrap a long stream in it.
    """
    manager = _rls_context(_tenant_values(tenant_id, user_id), using)
    await sync_to_async(manager.__enter__)()
    try:
        with bind_log_context(tenant_id=str(tenant_id)):
            yield
    except BaseException as exc:
        if not await sync_to_async(manager.__exit__)(type(exc), exc, exc.__traceback__):
            raise
    else:
        await sync_to_async(manager.__exit__)(None, None, None)


@cache
def worker_pool() -> ThreadPoolExecutor:
    """The process's threads for database work with no request thread of its own
    (``in_worker_thread``, the lean handler's own calls: apps/core/asgi.py).

    ``DATABASE_THREADS`` of them, by default as many as the connection pool holds: fewer
    and posts queue for a thread while connections sit idle (the event loop's default
    executor has min(32, CPUs + 4) threads, 6 on two cores), more and they queue for a
    connection, up to ``DATABASE_POOL_TIMEOUT_S``."""
    return ThreadPoolExecutor(max_workers=settings.DATABASE_THREADS, thread_name_prefix="db")


def in_worker_thread(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``sync_to_async`` for code with no request thread of its own (a background task,
    a view served lean): run on the shared worker pool (``worker_pool``), not on the one
    thread that serves every such caller's thread-sensitive calls (which serialised the
    database work of every stream of a process), and hand the thread's connection back to
    the pool after.
    ``function`` must open and close its own transaction (``tenant_context``)."""

    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections["default"].close()

    return sync_to_async(run, thread_sensitive=False, executor=worker_pool())


async def release_connection(using: str = "default") -> None:
    """Give this request's database connection back to the pool.

    Django returns it when the response is closed, which for a stream (SSE, a streamed
    completion) is minutes later: call this once the stream no longer needs the
    database, or a few hundred open streams hold every pooled connection."""
    await sync_to_async(_close_connection)(using)


def _close_connection(using: str) -> None:
    connections[using].close()  # looked up here: connections are per thread


def current_tenant_id(using: str = "default") -> str | None:
    """The tenant id set on this connection's transaction, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [TENANT_SETTING])
        value = cursor.fetchone()[0]
    return value or None
