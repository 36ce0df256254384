"""Helpers for the retrieval, citation and search API tests (no tests here).

Chunks are created directly, independent of the ingestion pipeline: real embeddings from
the gateway (`embed_sync` against the running local provider, the same "heading, blank
line, content" text that ingestion embeds) and the search vector computed by PostgreSQL
with `to_tsvector('english', heading || ' ' || content)`, as ingestion stores it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from apps.core.db import tenant_context
from apps.gateway import api as gateway
from apps.gateway.models import AISettings
from apps.gateway.types import CallContext
from apps.rag.models import Chunk, Document, DocumentStatus
from apps.tenants.models import Tenant

DATA = Path(settings.BASE_DIR) / "bench" / "data"

# What make_document returns: the document and its chunks in order.
DocumentAndChunks = tuple[Document, list[Chunk]]


def embed(tenant: Tenant, texts: list[str]) -> list[list[float]]:
    return gateway.embed_sync(CallContext(tenant_id=tenant.id, feature="rag_ingest"), texts)


def make_document(
    tenant: Tenant,
    title: str,
    sections: list[tuple[str, str]],
    *,
    status: str = DocumentStatus.READY,
) -> DocumentAndChunks:
    """A document of ``status`` with one chunk per (heading, content) section."""
    vectors = embed(tenant, [f"{h}\n\n{c}" if h else c for h, c in sections])
    with tenant_context(tenant.id):
        document = Document.objects.create(
            tenant=tenant,
            title=title,
            filename=f"{title}.md",
            content_type="text/markdown",
            sha256=hashlib.sha256(f"{title}-{uuid.uuid4()}".encode()).hexdigest(),
            status=status,
            chunks_total=len(sections),
            chunks_done=len(sections),
        )
        chunks = Chunk.objects.bulk_create(
            Chunk(
                tenant=tenant,
                document=document,
                ordinal=ordinal,
                heading=heading,
                content=content,
                token_count=len(content.split()),
                embedding=vector,
            )
            for ordinal, ((heading, content), vector) in enumerate(
                zip(sections, vectors, strict=True)
            )
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE rag_chunk SET search_vector = "
                "to_tsvector('english', heading || ' ' || content) WHERE document_id = %s",
                [document.id],
            )
    return document, chunks


def set_ai(tenant: Tenant, **fields: Any) -> None:
    from apps.gateway.config import invalidate

    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(tenant=tenant, defaults=fields)
    invalidate(tenant.id)


def load_jsonl(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_corpus(tenant: Tenant) -> dict[tuple[str, str], Chunk]:
    """bench/data/retrieval_corpus.jsonl as ready documents; chunks by (title, heading)."""
    by_document: dict[str, list[tuple[str, str]]] = {}
    for row in load_jsonl("retrieval_corpus.jsonl"):
        by_document.setdefault(row["document"], []).append((row["heading"], row["content"]))
    out = {}
    for title, sections in by_document.items():
        _, chunks = make_document(tenant, title, sections)
        out.update({(title, c.heading): c for c in chunks})
    return out
