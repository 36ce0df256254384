"""Writes for documents: upload, re-ingest, delete. Call inside tenant_context for the
tenant (views and API endpoints already run in one). Who may call them is the caller's
check: owners and admins in the UI, the ``documents`` scope on the API. Ingestion's own
writes live in apps/rag/ingest.py.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.core.errors import ServiceError
from apps.rag import selectors, storage
from apps.rag.models import Document, DocumentStatus
from apps.rag.parsing import detect_type
from apps.rag.tasks import ingest_document_task
from apps.tenants.models import AuditAction, Tenant
from apps.tenants.services import audit_record


class FileTooLarge(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="file_too_large")


def max_upload_bytes() -> int:
    return int(settings.RAG_MAX_UPLOAD_MB) * 1024 * 1024


def check_upload_size(size: int, filename: str = "") -> None:
    """Refuse a file over RAG_MAX_UPLOAD_MB before its bytes are read."""
    if size > max_upload_bytes():
        name = f"“{PurePath(filename).name}” is" if filename else "The file is"
        raise FileTooLarge(
            f"{name} {size / 1024 / 1024:.1f} MB; the limit is {settings.RAG_MAX_UPLOAD_MB} MB. "
            "Split it into smaller files, or save it without embedded images, and upload again."
        )


def _title(filename: str) -> str:
    stem = PurePath(filename.replace("\\", "/")).stem.replace("_", " ").strip()
    return (stem or "Untitled document")[:255]


def document_create(
    *, tenant: Tenant, uploaded_by: User | None, filename: str, data: bytes, content_type: str = ""
) -> tuple[Document, bool]:
    """Store an uploaded file and queue its ingestion. Returns (document, created).

    The same bytes already uploaded to this tenant (same SHA-256) give back the existing
    document with ``created=False``: never a second copy. Raises ``FileTooLarge``,
    ``UnsupportedFileType`` (the message lists the accepted types) or ``ServiceError``
    (empty file); nothing is stored then. ``content_type`` is the client's claim: used
    only for a file without an extension, and always checked against the content.
    """
    display_name = PurePath(filename.replace("\\", "/")).name or "document"
    check_upload_size(len(data), display_name)
    if not data.strip():
        raise ServiceError(
            f"“{display_name}” is empty. Choose a file with some text in it.", code="empty_file"
        )
    file_type = detect_type(display_name, data, content_type)
    digest = hashlib.sha256(data).hexdigest()
    existing = selectors.document_by_content(tenant, digest)
    if existing is not None:
        return existing, False

    document_id = uuid.uuid4()
    name = storage.save(storage.document_path(tenant.id, document_id, display_name), data)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                id=document_id,
                tenant=tenant,
                uploaded_by=uploaded_by,
                title=_title(display_name),
                filename=display_name[:255],
                content_type=file_type.mime,
                size_bytes=len(data),
                sha256=digest,
                file=name,
                ingest_attempt=1,
            )
    except IntegrityError:
        # The same file uploaded twice at once: the other upload won.
        storage.delete(name)
        existing = selectors.document_by_content(tenant, digest)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        storage.delete(name)
        raise
    _audit(document, uploaded_by, AuditAction.DOCUMENT_UPLOADED, size_bytes=len(data))
    _enqueue_ingestion(document)
    return document, True


def document_reingest(*, document: Document, actor: User | None = None) -> Document:
    """Queue a fresh ingestion. A run still going becomes stale and stops at its next
    step; the current chunks are kept until the new run replaces them (the document is
    out of search until it is ready again)."""
    Document.objects.filter(id=document.id, tenant_id=document.tenant_id).update(
        ingest_attempt=F("ingest_attempt") + 1,
        status=DocumentStatus.QUEUED,
        error="",
        chunks_done=0,
        chunks_total=0,
        updated_at=timezone.now(),
    )
    document.refresh_from_db()
    _audit(document, actor, AuditAction.DOCUMENT_REINGESTED)
    _enqueue_ingestion(document)
    return document


def document_delete(*, document: Document, actor: User | None = None) -> None:
    """Delete the document and its chunks now, and its stored file once that commits."""
    name = document.file.name or ""
    _audit(document, actor, AuditAction.DOCUMENT_DELETED)
    document.delete()  # chunks go with it (ON DELETE CASCADE through Django's collector)
    transaction.on_commit(lambda: storage.delete(name))


def _audit(document: Document, actor: User | None, action: str, **details: Any) -> None:
    audit_record(
        tenant=document.tenant,
        actor=actor,
        action=action,
        target=document.filename,
        document_id=str(document.id),
        **details,
    )


def _enqueue_ingestion(document: Document) -> None:
    kwargs = {
        "document_id": str(document.id),
        "attempt": document.ingest_attempt,
        "tenant_id": str(document.tenant_id),
    }
    # After commit, so the worker finds the row (and a rolled-back upload queues nothing).
    transaction.on_commit(lambda: ingest_document_task.apply_async(kwargs=kwargs))
