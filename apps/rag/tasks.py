"""The ingestion task: thin; the work is in apps/rag/ingest.py.

It does not use ``apps.core.tasks.TenantTask``, which wraps the whole run in ONE
transaction: progress written during ingestion would stay invisible until the end.
``IngestTask`` checks the ``tenant_id`` argument the same way but leaves the transactions
to ``ingest_document``, which opens a short ``tenant_context`` per step.

Retries: the gateway's ``provider_unavailable`` error is retried by Celery's autoretry
(as ``ProviderUnavailable``: Celery pickles a task's exception, and GatewayError's
signature does not survive that) with exponential backoff (``RAG_INGEST_RETRY_BACKOFF_S``
times 2^n, jittered), at most ``RAG_INGEST_MAX_RETRIES`` times; meanwhile the document is
``queued`` with a note. After the last try, or on any unexpected error, ``on_failure``
marks it ``failed`` with a reason. Other documents are untouched: each has its own task.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from apps.core.logging import bind_log_context
from apps.gateway.types import GatewayError
from apps.rag import ingest

PROVIDER_GAVE_UP = (
    "The embedding provider did not answer after {tries} tries, so this document was not "
    "indexed. Nothing else was changed. Press Re-ingest once the provider is back."
)
PROVIDER_RETRYING = (
    "The embedding provider did not answer; retrying automatically (try {next} of {tries})."
)
TOO_SLOW = (
    "Ingestion took longer than the worker's time limit ({seconds} s). Split the document "
    "into smaller files, or ask your administrator to raise CELERY_TASK_TIME_LIMIT."
)
UNEXPECTED = (
    "Ingestion stopped on an unexpected error ({name}). Press Re-ingest to try again; if it "
    "fails again, tell your administrator (the worker log has the details)."
)


class ProviderUnavailable(Exception):
    """The embedding provider did not answer; retrying later may help."""


class IngestTask(Task):  # type: ignore[type-arg]  # celery-types: Task[P, R] varies per task
    """Called with ``document_id``, ``attempt`` and ``tenant_id`` keyword arguments, and
    ``owner_id`` for a private document (its steps run as that person, for RLS)."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tenant_id = kwargs.get("tenant_id")
        if not tenant_id:
            raise ValueError(f"{self.name} needs a tenant_id keyword argument")
        with bind_log_context(tenant_id=str(tenant_id)):
            return super().__call__(*args, **kwargs)

    def _tries(self) -> int:
        return int(self.max_retries or 0) + 1

    def on_retry(
        self, exc: Exception, task_id: str, args: Any, kwargs: dict[str, Any], einfo: Any
    ) -> None:
        message = PROVIDER_RETRYING.format(next=self.request.retries + 2, tries=self._tries())
        ingest.ingest_mark_retrying(
            kwargs["document_id"],
            kwargs["attempt"],
            tenant_id=kwargs["tenant_id"],
            message=message,
            owner_id=kwargs.get("owner_id"),
        )

    def on_failure(
        self, exc: Exception, task_id: str, args: Any, kwargs: dict[str, Any], einfo: Any
    ) -> None:
        if not kwargs.get("tenant_id"):
            return  # refused before it started: there is no document to mark
        if isinstance(exc, ProviderUnavailable):
            reason = PROVIDER_GAVE_UP.format(tries=self._tries())
        elif isinstance(exc, SoftTimeLimitExceeded):
            reason = TOO_SLOW.format(seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT)
        else:
            reason = UNEXPECTED.format(name=type(exc).__name__)
        ingest.ingest_mark_failed(
            kwargs["document_id"],
            kwargs["attempt"],
            tenant_id=kwargs["tenant_id"],
            reason=reason,
            owner_id=kwargs.get("owner_id"),
        )


@shared_task(
    base=IngestTask,
    autoretry_for=(ProviderUnavailable,),
    max_retries=settings.RAG_INGEST_MAX_RETRIES,
    retry_backoff=settings.RAG_INGEST_RETRY_BACKOFF_S,
    retry_backoff_max=600,
    retry_jitter=True,
    acks_late=True,
)
def ingest_document_task(
    *, document_id: str, attempt: int, tenant_id: str, owner_id: int | None = None
) -> None:
    try:
        ingest.ingest_document(document_id, attempt, tenant_id=tenant_id, owner_id=owner_id)
    except GatewayError as exc:
        # Only provider_unavailable escapes ingest_document: other refusals end as "failed".
        raise ProviderUnavailable(exc.message) from exc
