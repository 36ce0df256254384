"""Reads for documents and chunks. Call inside tenant_context for the tenant.

Every query also filters by tenant explicitly: RLS already hides other tenants' rows, the
predicate keeps plans tenant-first and the intent plain.
"""

from __future__ import annotations

import uuid

from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from apps.rag.models import Chunk, Document, DocumentStatus
from apps.rag.parsing import TYPES
from apps.tenants.models import Tenant

FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)


def _progress() -> Case:
    """0-100: chunks embedded out of chunks to embed; 100 once ready."""
    return Case(
        When(status=DocumentStatus.READY, then=Value(100)),
        When(
            status=DocumentStatus.EMBEDDING,
            chunks_total__gt=0,
            then=F("chunks_done") * 100 / F("chunks_total"),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def _chunk_count() -> Coalesce:
    # A correlated count per listed document: cheaper than a join over all chunks.
    counts = (
        Chunk.objects.filter(tenant_id=OuterRef("tenant_id"), document_id=OuterRef("pk"))
        .order_by()
        .values("document_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _by_type(attribute: str, default: str) -> Case:
    """A FileType attribute (label "PDF", kind "pdf") from the stored MIME type."""
    return Case(
        *(When(content_type=t.mime, then=Value(getattr(t, attribute))) for t in TYPES),
        default=Value(default),
        output_field=CharField(),
    )


def _annotated(documents: QuerySet[Document]) -> QuerySet[Document]:
    return documents.annotate(
        progress=_progress(),
        chunk_count=_chunk_count(),
        type_label=_by_type("label", "File"),
        type_kind=_by_type("kind", "file"),
    )


def documents_for(tenant: Tenant) -> QuerySet[Document]:
    """The tenant's shared documents (never a chat attachment), newest first, annotated
    with ``progress`` (0-100), ``chunk_count`` (passages stored now), ``type_label`` and
    ``type_kind``."""
    return (
        _annotated(Document.objects.shared().filter(tenant_id=tenant.id))
        .select_related("uploaded_by")
        .order_by("-created_at")
    )


def document_for(tenant: Tenant, document_id: uuid.UUID | str) -> Document | None:
    try:
        uuid.UUID(str(document_id))
    except ValueError:
        return None
    return documents_for(tenant).filter(id=document_id).first()


def document_by_content(tenant: Tenant, sha256: str) -> Document | None:
    return Document.objects.shared().filter(tenant_id=tenant.id, sha256=sha256).first()


def private_documents(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> QuerySet[Document]:
    """Private documents (attachments) by id, annotated like ``documents_for``. Their
    owner's user id must be the transaction's ``app.user_id``: RLS shows no other's."""
    return _annotated(
        Document.objects.filter(tenant_id=tenant_id, id__in=ids, owner__isnull=False)
    ).order_by("created_at")


def chunks_of(document: Document) -> QuerySet[Chunk]:
    """The document's chunks in reading order, without their vectors."""
    return (
        Chunk.objects.filter(tenant_id=document.tenant_id, document_id=document.id)
        .defer("embedding", "search_vector")
        .order_by("ordinal")
    )


def is_finished(document: Document) -> bool:
    return document.status in FINISHED


def any_unfinished(documents: list[Document]) -> bool:
    return any(not is_finished(d) for d in documents)
