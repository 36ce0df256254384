"""Celery task bases."""

from __future__ import annotations

from typing import Any

from celery import Task

from apps.core.db import tenant_context


class TenantTask(Task):  # type: ignore[type-arg]  # celery-types: Task[P, R] varies per task
    """A task that works on one tenant's data.

    It must be called with a ``tenant_id`` keyword argument; the body runs inside
    ``tenant_context(tenant_id)``, so RLS shows it that tenant's rows and no other's.
    Enqueue with ``transaction.on_commit`` so the worker sees the committed rows.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tenant_id = kwargs.get("tenant_id")
        if not tenant_id:
            raise ValueError(f"{self.name} needs a tenant_id keyword argument")
        with tenant_context(tenant_id):
            return super().__call__(*args, **kwargs)
