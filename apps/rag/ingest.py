"""Ingestion of one document: parse → chunk → embed in batches → store, with progress.

States: queued → parsing → embedding (``chunks_done`` of ``chunks_total``) → ready, or
failed with ``error`` saying why and what to do.

**Short transactions.** ``apps.core.tasks.TenantTask`` runs a task in one transaction, so
nobody would see "parsing" or "embedding 40/120" until the end, and that transaction would
stay open across minutes of provider calls. Here each step (start, each progress update,
the final store) is its own short ``tenant_context`` block that commits at once, and
nothing holds a transaction while parsing or calling the provider.

**Safe to run twice.** Every write is guarded by the document's ``ingest_attempt``: a
re-ingest (or a delete) bumps or removes it, and a stale run stops at its next write. The
chunks are replaced in one transaction at the very end (delete + insert under a row lock),
so a retry or a second run never duplicates them, and until then the previous chunks stay
searchable.

**Private documents** (chat attachments) are visible only with their owner's
``app.user_id`` (migration 0005): the task passes ``owner_id`` and every step enters the
context as that person; their chunks carry the owner too.

**Failures.** A file that cannot be read, or a gateway refusal that retrying cannot fix
(budget, daily limit, input), ends as ``failed`` with the reason. ``provider_unavailable``
is raised to the caller: the Celery task retries it with backoff (apps/rag/tasks.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db.models import Value
from django.utils import timezone

from apps.core.db import current_tenant_id, tenant_context
from apps.gateway import api as gateway
from apps.gateway.types import CallContext, GatewayError
from apps.guardrails.engine import Direction, Hit
from apps.guardrails.injection import detect
from apps.guardrails.policy import Action, Check
from apps.guardrails.services import events_record
from apps.rag import storage
from apps.rag.chunking import ChunkDraft, chunk_sections
from apps.rag.models import Chunk, Document, DocumentStatus
from apps.rag.parsing import NO_TEXT, ParseError, parse, type_for_mime

logger = logging.getLogger(__name__)

FEATURE = "rag_ingest"
RETRYABLE = "provider_unavailable"
# What the guardrail log (read by admins) says instead of a private document's text.
PRIVATE_EXCERPT = "(text of a private chat attachment, not shown)"


class StaleAttempt(Exception):
    """The document was deleted or re-ingested after this run started."""


@dataclass(frozen=True)
class _Run:
    document_id: uuid.UUID
    tenant_id: str
    attempt: int
    file_name: str
    mime: str
    uploaded_by_id: int | None
    owner_id: int | None


def ingest_document(
    document_id: uuid.UUID | str,
    attempt: int | None = None,
    *,
    tenant_id: Any = None,
    owner_id: int | None = None,
) -> None:
    """Ingest one document, synchronously.

    Two ways to call it:

    - **as the Celery task does**: outside any transaction, with ``tenant_id=`` (the task's
      argument); each step then commits on its own, so progress shows as it happens;
    - **in-process** (tests, a shell, a management command): inside
      ``with tenant_context(tenant.id): ingest_document(doc.id)``; the tenant is read from
      the context and the steps become savepoints of the caller's transaction.

    ``attempt`` is the ``ingest_attempt`` the task was enqueued for: a different current
    value means a newer run owns the document, and this one does nothing. ``None`` means
    "the current attempt" and re-ingests even a ready document (chunks are replaced).
    ``owner_id``: a private document's owner (the task's argument), else None.
    Raises ``GatewayError`` only for ``provider_unavailable`` (retryable); every other
    failure ends as status ``failed`` with a reason.
    """
    tenant = str(tenant_id or current_tenant_id() or "")
    if not tenant:
        raise ValueError(
            "ingest_document needs a tenant: call it inside tenant_context(tenant_id) "
            "or pass tenant_id="
        )
    try:
        run = _start(uuid.UUID(str(document_id)), attempt, tenant, owner_id)
        if run is None:
            return
        try:
            drafts = _parse_and_chunk(run)
            vectors = _embed(run, drafts)
        except ParseError as exc:
            _fail(run, exc.message)
            return
        except GatewayError as exc:
            if exc.code == RETRYABLE:
                raise
            _fail(run, f"{exc.message} Then press Re-ingest.")
            return
        _store(run, drafts, vectors)
    except StaleAttempt:
        logger.info("stale ingestion stopped", extra={"document_id": str(document_id)})


def ingest_mark_retrying(
    document_id: Any, attempt: int, *, tenant_id: Any, message: str, owner_id: int | None = None
) -> None:
    """Back to ``queued`` with a note while the task waits to retry (unless superseded)."""
    _guarded_update(
        document_id, attempt, tenant_id, owner_id, status=DocumentStatus.QUEUED, error=message
    )


def ingest_mark_failed(
    document_id: Any, attempt: int, *, tenant_id: Any, reason: str, owner_id: int | None = None
) -> None:
    """``failed`` with ``reason``, unless a newer attempt owns the document."""
    _guarded_update(
        document_id, attempt, tenant_id, owner_id, status=DocumentStatus.FAILED, error=reason
    )


def embedding_input(draft: ChunkDraft) -> str:
    """What is embedded: the heading path gives a passage its context."""
    return f"{draft.heading}\n\n{draft.content}" if draft.heading else draft.content


# --- Steps ------------------------------------------------------------------------------


def _start(
    document_id: uuid.UUID, attempt: int | None, tenant_id: str, owner_id: int | None
) -> _Run | None:
    with tenant_context(tenant_id, user_id=owner_id):
        document = (
            Document.objects.select_for_update().filter(id=document_id, tenant_id=tenant_id).first()
        )
        if document is None:
            return None  # deleted since it was queued
        if attempt is not None and (
            document.ingest_attempt != attempt or document.status == DocumentStatus.READY
        ):
            return None  # superseded, or a redelivery of a run that already finished
        document.status = DocumentStatus.PARSING
        document.error = ""
        document.chunks_done = document.chunks_total = 0
        document.save(
            update_fields=["status", "error", "chunks_done", "chunks_total", "updated_at"]
        )
        return _Run(
            document_id=document.id,
            tenant_id=tenant_id,
            attempt=document.ingest_attempt,
            file_name=document.file.name or "",
            mime=document.content_type,
            uploaded_by_id=document.uploaded_by_id,
            owner_id=document.owner_id,
        )


def _parse_and_chunk(run: _Run) -> list[ChunkDraft]:
    file_type = type_for_mime(run.mime)
    if file_type is None:
        raise ParseError(f"Documents of type {run.mime or 'unknown'} cannot be ingested.")
    try:
        data = storage.read(run.file_name, tenant_id=run.tenant_id)
    except FileNotFoundError:
        raise ParseError(
            "The stored file is missing. Delete this document and upload the file again."
        ) from None
    drafts = chunk_sections(parse(file_type, data))
    if not drafts:
        raise ParseError(NO_TEXT)
    return drafts


def _embed(run: _Run, drafts: list[ChunkDraft]) -> list[list[float]]:
    _advance(run, status=DocumentStatus.EMBEDDING, chunks_total=len(drafts), chunks_done=0)
    ctx = CallContext(
        tenant_id=run.tenant_id,
        feature=FEATURE,
        user_id=run.uploaded_by_id,
        request_id=str(run.document_id),  # the ledger can sum a document's cost
    )
    size = settings.RAG_EMBED_BATCH_SIZE
    vectors: list[list[float]] = []
    for start in range(0, len(drafts), size):
        batch = drafts[start : start + size]
        vectors.extend(gateway.embed_sync(ctx, [embedding_input(d) for d in batch]))
        _advance(run, chunks_done=len(vectors))
    return vectors


def _store(run: _Run, drafts: list[ChunkDraft], vectors: list[list[float]]) -> None:
    """Replace the document's chunks and mark it ready, in one transaction."""
    if len(vectors) != len(drafts):
        raise RuntimeError(f"got {len(vectors)} embeddings for {len(drafts)} chunks")
    flags, hits = passage_flags(drafts, private=run.owner_id is not None)
    with tenant_context(run.tenant_id, user_id=run.owner_id):
        document = (
            Document.objects.select_for_update()
            .filter(id=run.document_id, tenant_id=run.tenant_id, ingest_attempt=run.attempt)
            .first()
        )
        if document is None:
            raise StaleAttempt
        Chunk.objects.filter(tenant_id=run.tenant_id, document_id=run.document_id).delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    tenant_id=run.tenant_id,
                    document_id=run.document_id,
                    owner_id=run.owner_id,
                    ordinal=draft.ordinal,
                    heading=draft.heading,
                    content=draft.content,
                    token_count=draft.token_count,
                    embedding=vector,
                    injection_flag=flag,
                    # to_tsvector('english', heading || ' ' || content), computed by
                    # PostgreSQL in the INSERT itself: a later UPDATE would write every
                    # row (and its HNSW entry) twice.
                    search_vector=SearchVector(
                        Value(f"{draft.heading} {draft.content}"), config="english"
                    ),
                )
                for draft, vector, flag in zip(drafts, vectors, flags, strict=True)
            ],
            batch_size=500,
        )
        document.status = DocumentStatus.READY
        document.error = ""
        document.chunks_total = document.chunks_done = len(drafts)
        document.token_count = sum(d.token_count for d in drafts)
        document.ingested_at = timezone.now()
        document.save()
    events_record(
        tenant_id=run.tenant_id,
        hits=hits,
        direction=Direction.PASSAGE,
        feature="rag_ingest",
        request_id=str(run.document_id),
    )


def passage_flags(
    drafts: list[ChunkDraft], *, private: bool = False
) -> tuple[list[str], list[Hit]]:
    """Each chunk's injection mark ("" when clean: the rule or "classifier" otherwise),
    and a log entry per marked chunk. Marked chunks are shown to admins on the document
    page; retrieval checks passages again and quotes or omits them (apps/rag/context.py).
    A ``private`` document's entries, which admins read, quote none of its text."""
    flags: list[str] = []
    hits: list[Hit] = []
    for draft in drafts:
        result = detect(draft.content)
        flags.append(result.reason[:80] if result.flagged else "")
        if result.flagged:
            shown = PRIVATE_EXCERPT if private else result.excerpt
            excerpt = f"passage {draft.ordinal + 1}: {shown}"[:160]
            hits.append(
                Hit(Check.PROMPT_INJECTION, Action.FLAG, result.reason, excerpt, result.score)
            )
    return flags, hits


def _fail(run: _Run, reason: str) -> None:
    _advance(run, status=DocumentStatus.FAILED, error=reason)


def _advance(run: _Run, **fields: Any) -> None:
    if not _guarded_update(run.document_id, run.attempt, run.tenant_id, run.owner_id, **fields):
        raise StaleAttempt


def _guarded_update(
    document_id: Any, attempt: int, tenant_id: Any, owner_id: int | None, **fields: Any
) -> bool:
    """Update the document if ``attempt`` is still its current one (one short transaction)."""
    with tenant_context(tenant_id, user_id=owner_id):
        updated = Document.objects.filter(
            id=document_id, tenant_id=tenant_id, ingest_attempt=attempt
        ).update(updated_at=timezone.now(), **fields)
    return updated > 0
