"""Documents over the API: upload, status, list, delete, re-ingest (django-ninja Router).

Registered on the Starter API in apps/api/api.py, which authenticates the key and
enters its tenant before these endpoints run; every endpoint needs the ``documents``
scope. A key acts for the member who created it: uploads are recorded as theirs.
Another tenant's document id is a 404, exactly like an id that never existed.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from apps.api.models import ApiKey, Scope
from apps.core.errors import ServiceError
from apps.rag import selectors, services
from apps.rag.models import Document
from apps.rag.parsing import UnsupportedFileType

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


def _documents_key(request: HttpRequest) -> ApiKey:
    # Imported here: apps.api.api imports this module while it is being built.
    from apps.api.api import require_scope

    return require_scope(request, Scope.DOCUMENTS)


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


def _get(request: HttpRequest, document_id: uuid.UUID) -> Document:
    document = selectors.document_for(request.tenant, document_id)  # type: ignore[attr-defined]
    if document is None:
        raise Http404("No such document.")
    return document


def _refused(request: HttpRequest, status: int, exc: ServiceError) -> HttpResponse:
    """A refused upload in the API's error shape, pointing at the ``file`` field."""
    from apps.api.api import error_response

    return error_response(request, status=status, message=exc.message, code=exc.code, param="file")


@router.post(
    "/documents",
    response={200: UploadOut, 201: UploadOut},
    summary="Upload a document (multipart field `file`: txt, md, html, pdf or docx)",
)
def document_upload(
    request: HttpRequest, file: File[UploadedFile]
) -> Status[dict[str, Any]] | HttpResponse:
    """201 with the new document (status `queued`), or 200 with `duplicate: true` and the
    document that already holds these exact bytes. 413 over the size limit, 415 for a type
    that is not accepted, 400 for an empty file; nothing is stored then."""
    key = _documents_key(request)
    name = file.name or ""
    try:
        services.check_upload_size(file.size or 0, name)
        document, created = services.document_create(
            tenant=request.tenant,  # type: ignore[attr-defined]
            uploaded_by=key.created_by,
            filename=name,
            data=file.read(),
            content_type=file.content_type or "",
        )
    except services.FileTooLarge as exc:
        return _refused(request, 413, exc)
    except UnsupportedFileType as exc:
        return _refused(request, 415, exc)
    body = {**_as_json(_get(request, document.id)), "duplicate": not created}
    return Status(201 if created else 200, body)


@router.get(
    "/documents", response=list[DocumentOut], summary="The organisation's documents, newest first"
)
def document_list(request: HttpRequest, limit: int = 100) -> list[dict[str, Any]]:
    _documents_key(request)
    found = selectors.documents_for(request.tenant)[: max(1, min(limit, 500))]  # type: ignore[attr-defined]
    return [_as_json(d) for d in found]


@router.get(
    "/documents/{document_id}",
    response=DocumentOut,
    summary="One document: `status` is queued, parsing, embedding, ready or failed",
)
def document_detail(request: HttpRequest, document_id: uuid.UUID) -> dict[str, Any]:
    _documents_key(request)
    return _as_json(_get(request, document_id))


@router.delete(
    "/documents/{document_id}",
    response=DeletedOut,
    summary="Delete a document, its chunks and its stored file",
)
def document_delete(request: HttpRequest, document_id: uuid.UUID) -> dict[str, Any]:
    key = _documents_key(request)
    document = _get(request, document_id)
    services.document_delete(document=document, actor=key.created_by)
    return {"id": str(document_id), "deleted": True}


@router.post(
    "/documents/{document_id}/reingest",
    response={202: DocumentOut},
    summary="Parse, chunk and embed the document again",
)
def document_reingest(request: HttpRequest, document_id: uuid.UUID) -> Status[dict[str, Any]]:
    key = _documents_key(request)
    document = services.document_reingest(document=_get(request, document_id), actor=key.created_by)
    return Status(202, _as_json(_get(request, document.id)))
