"""Writes for documents: upload, re-ingest, delete. Call inside tenant_context for the
tenant (views and API endpoints already run in one). Ingestion's own writes live in
apps/rag/ingest.py.

Each write takes its ``actor`` and checks it here, whoever calls: a ``Membership`` must
be an owner's or an admin's; an ``ApiKey`` (which acts for the member who created it)
must carry the ``documents`` scope. Either must belong to the document's tenant.
Refusals raise ``NotAllowed`` and change nothing.

Private documents (a conversation's attachments) are the exception: any member may give
files to their own conversation, so ``private_document_create`` takes the ``owner``
instead of an actor, and the caller (apps/chat/attachments.py) checks the conversation.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.api.models import ApiKey
from apps.api.scopes import Scope
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
    upload = _checked_upload(filename, data, content_type)
    existing = selectors.document_by_content(tenant, upload.sha256)
    if existing is not None:
        return existing, False
    try:
        document = _store(tenant=tenant, uploaded_by=uploaded_by, owner=None, upload=upload)
    except IntegrityError:
        # The same file uploaded twice at once: the other upload won.
        existing = selectors.document_by_content(tenant, upload.sha256)
        if existing is None:
            raise
        return existing, False
    _audit(document, uploaded_by, AuditAction.DOCUMENT_UPLOADED, size_bytes=len(data))
    _enqueue_ingestion(document)
    return document, True


def private_document_create(
    *, tenant: Tenant, owner: User, filename: str, data: bytes, content_type: str = ""
) -> Document:
    """Store a file that only ``owner`` may see (a chat attachment) and queue its
    ingestion: the same formats, size limit and refusals as ``document_create``.

    Call inside ``tenant_context(tenant.id, user_id=owner.pk)`` (a member's request is
    one): RLS admits the row only for its owner. It is not in the tenant's audit log,
    which admins read: the file is none of theirs. The caller links it to what it is
    private to (apps/chat/attachments.py) and deletes it with
    ``private_document_delete``.
    """
    upload = _checked_upload(filename, data, content_type)
    document = _store(tenant=tenant, uploaded_by=owner, owner=owner, upload=upload)
    _enqueue_ingestion(document)
    return document


def private_document_delete(*, document: Document) -> None:
    """Delete a private document and its chunks now, its stored file once that commits."""
    if document.owner_id is None:
        raise NotAllowed("This is a shared document: delete it from Documents.")
    name = document.file.name or ""
    document.delete()
    transaction.on_commit(lambda: storage.delete(name))


@dataclass(frozen=True)
class _Upload:
    display_name: str
    data: bytes
    mime: str
    sha256: str


def _checked_upload(filename: str, data: bytes, content_type: str) -> _Upload:
    """The upload's name, type and digest, or the refusal (size, emptiness, type)."""
    display_name = PurePath(filename.replace("\\", "/")).name or "document"
    check_upload_size(len(data), display_name)
    if not data.strip():
        raise ServiceError(
            f"“{display_name}” is empty. Choose a file with some text in it.", code="empty_file"
        )
    file_type = detect_type(display_name, data, content_type)
    return _Upload(display_name, data, file_type.mime, hashlib.sha256(data).hexdigest())


def _store(
    *, tenant: Tenant, uploaded_by: User | None, owner: User | None, upload: _Upload
) -> Document:
    """The file in storage and its row; the file goes again if the row is not written."""
    document_id = uuid.uuid4()
    name = storage.save(
        storage.document_path(tenant.id, document_id, upload.display_name), upload.data
    )
    try:
        with transaction.atomic():
            return Document.objects.create(
                id=document_id,
                tenant=tenant,
                uploaded_by=uploaded_by,
                owner=owner,
                title=_title(upload.display_name),
                filename=upload.display_name[:255],
                content_type=upload.mime,
                size_bytes=len(upload.data),
                sha256=upload.sha256,
                file=name,
                ingest_attempt=1,
            )
    except BaseException:
        storage.delete(name)
        raise


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
    kwargs: dict[str, Any] = {
        "document_id": str(document.id),
        "attempt": document.ingest_attempt,
        "tenant_id": str(document.tenant_id),
    }
    if document.owner_id is not None:
        kwargs["owner_id"] = document.owner_id  # RLS shows a private document to its owner
    # After commit, so the worker finds the row (and a rolled-back upload queues nothing).
    transaction.on_commit(lambda: ingest_document_task.apply_async(kwargs=kwargs))
