"""Writes for documents: upload, re-ingest, delete. Call inside tenant_context for the
tenant (views and API endpoints already run in one). Ingestion's own writes live in
apps/rag/ingest.py.

Each write takes its ``actor`` and checks it here, whoever calls: a ``Membership`` must
be an owner's or an admin's; an ``ApiKey`` (which acts for the member who created it)
must carry the ``documents`` scope. Either must belong to the document's tenant.
Refusals raise ``NotAllowed`` and change nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.api.models import ApiKey, Scope
from apps.core.errors import NotAllowed, ServiceError
from apps.rag import selectors, storage
from apps.rag.models import Document, DocumentStatus
from apps.rag.parsing import UnsupportedFileType, detect_type
from apps.rag.tasks import ingest_document_task
from apps.tenants.models import AuditAction, Membership, Tenant
from apps.tenants.services import audit_record

# Who uploads, re-ingests or deletes: a member on a page, or an API key.
Actor = Membership | ApiKey


class FileTooLarge(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="file_too_large")


def refusal_status(exc: ServiceError) -> int:
    """The HTTP status of a refused upload or change, the same on pages and the API."""
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, FileTooLarge):
        return 413
    if isinstance(exc, UnsupportedFileType):
        return 415
    return 400


def _require_manager(actor: Actor, tenant_id: uuid.UUID) -> User | None:
    """The person to record as having acted, once ``actor`` may change ``tenant_id``'s
    documents; else ``NotAllowed``."""
    if actor.tenant_id != tenant_id:
        raise NotAllowed("This belongs to another organisation.")
    if isinstance(actor, ApiKey):
        if not actor.has_scope(Scope.DOCUMENTS):
            raise NotAllowed(
                "This API key lacks the 'documents' scope. Create a key with it in "
                "Organisation → API keys."
            )
        return actor.created_by
    if not actor.can_manage:
        raise NotAllowed("Only owners and admins can upload, re-ingest or delete documents.")
    return actor.user


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


def document_upload(*, tenant: Tenant, actor: Actor, file: UploadedFile) -> tuple[Document, bool]:
    """``document_create`` for an uploaded file (a page's form or the API's multipart
    field): a file declared too large is refused before its bytes are read."""
    _require_manager(actor, tenant.id)
    check_upload_size(file.size or 0, file.name or "")
    return document_create(
        tenant=tenant,
        actor=actor,
        filename=file.name or "",
        data=file.read(),
        content_type=file.content_type or "",
    )


def document_create(
    *, tenant: Tenant, actor: Actor, filename: str, data: bytes, content_type: str = ""
) -> tuple[Document, bool]:
    """Store an uploaded file and queue its ingestion. Returns (document, created).

    The same bytes already uploaded to this tenant (same SHA-256) give back the existing
    document with ``created=False``: never a second copy. Raises ``FileTooLarge``,
    ``UnsupportedFileType`` (the message lists the accepted types) or ``ServiceError``
    (empty file); nothing is stored then. ``content_type`` is the client's claim: used
    only for a file without an extension, and always checked against the content.
    """
    uploaded_by = _require_manager(actor, tenant.id)
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


def document_reingest(*, document: Document, actor: Actor) -> Document:
    """Queue a fresh ingestion. A run still going becomes stale and stops at its next
    step; the current chunks are kept until the new run replaces them (the document is
    out of search until it is ready again)."""
    person = _require_manager(actor, document.tenant_id)
    Document.objects.filter(id=document.id, tenant_id=document.tenant_id).update(
        ingest_attempt=F("ingest_attempt") + 1,
        status=DocumentStatus.QUEUED,
        error="",
        chunks_done=0,
        chunks_total=0,
        updated_at=timezone.now(),
    )
    document.refresh_from_db()
    _audit(document, person, AuditAction.DOCUMENT_REINGESTED)
    _enqueue_ingestion(document)
    return document


def document_delete(*, document: Document, actor: Actor) -> None:
    """Delete the document and its chunks now, and its stored file once that commits."""
    person = _require_manager(actor, document.tenant_id)
    name = document.file.name or ""
    _audit(document, person, AuditAction.DOCUMENT_DELETED)
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
