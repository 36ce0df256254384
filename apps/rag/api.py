"""Documents over the API: upload, status, list, delete, re-ingest (django-ninja Router).

Mounted by config/api.py on the Starter API (apps/api/api.py), which authenticates the
key and enters its tenant before these endpoints run; every endpoint needs the
``documents`` scope (the services check it again). A key acts for the member who created
it: uploads are recorded as theirs. Another tenant's document id is a 404, exactly like
an id that never existed (apps/rag/access.py, as on the pages).
"""

from __future__ import annotations

import uuid
from typing import Any

from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.models import ApiKey
from apps.api.scopes import Scope
from apps.core.errors import ServiceError
from apps.rag import selectors, services
from apps.rag.access import get_document
from apps.rag.models import Document

router = Router(tags=["documents"])


class DocumentOut(Schema):
    id: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    status: str
    error: str
    progress: int
    chunks: int
    created_at: str
    ingested_at: str | None


class UploadOut(DocumentOut):
    duplicate: bool


class DeletedOut(Schema):
    id: str
    deleted: bool


def _documents_key(request: KeyRequest) -> ApiKey:
    return require_scope(request.api_key, Scope.DOCUMENTS)


def _as_json(document: Document) -> dict[str, Any]:
    return {
        "id": str(document.id),
        "title": document.title,
        "filename": document.filename,
        "content_type": document.content_type,
        "size_bytes": document.size_bytes,
        "status": document.status,
        "error": document.error,
        "progress": getattr(document, "progress", 0),
        "chunks": getattr(document, "chunk_count", 0),
        "created_at": document.created_at.isoformat(),
        "ingested_at": document.ingested_at.isoformat() if document.ingested_at else None,
    }


@router.post(
    "/documents",
    response={200: UploadOut, 201: UploadOut},
    summary="Upload a document (multipart field `file`: txt, md, html, pdf or docx)",
)
def document_upload(request: KeyRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    """201 with the new document (status `queued`), or 200 with `duplicate: true` and the
    document that already holds these exact bytes. 413 over the size limit, 415 for a type
    that is not accepted, 400 for an empty file; nothing is stored then."""
    key = _documents_key(request)
    try:
        document, created = services.document_upload(tenant=request.tenant, actor=key, file=file)
    except ServiceError as exc:
        status = services.refusal_status(exc)
        raise ApiError(status, exc.message, code=exc.code, param="file") from exc
    body = {**_as_json(get_document(request, document.id)), "duplicate": not created}
    return Status(201 if created else 200, body)


@router.get(
    "/documents", response=list[DocumentOut], summary="The organisation's documents, newest first"
)
def document_list(request: KeyRequest, limit: int = 100) -> list[dict[str, Any]]:
    _documents_key(request)
    found = selectors.documents_for(request.tenant)[: max(1, min(limit, 500))]
    return [_as_json(d) for d in found]


@router.get(
    "/documents/{document_id}",
    response=DocumentOut,
    summary="One document: `status` is queued, parsing, embedding, ready or failed",
)
def document_detail(request: KeyRequest, document_id: uuid.UUID) -> dict[str, Any]:
    _documents_key(request)
    return _as_json(get_document(request, document_id))


@router.delete(
    "/documents/{document_id}",
    response=DeletedOut,
    summary="Delete a document, its chunks and its stored file",
)
def document_delete(request: KeyRequest, document_id: uuid.UUID) -> dict[str, Any]:
    key = _documents_key(request)
    document = get_document(request, document_id)
    services.document_delete(document=document, actor=key)
    return {"id": str(document_id), "deleted": True}


@router.post(
    "/documents/{document_id}/reingest",
    response={202: DocumentOut},
    summary="Parse, chunk and embed the document again",
)
def document_reingest(request: KeyRequest, document_id: uuid.UUID) -> Status[dict[str, Any]]:
    key = _documents_key(request)
    document = services.document_reingest(document=get_document(request, document_id), actor=key)
    return Status(202, _as_json(get_document(request, document.id)))
