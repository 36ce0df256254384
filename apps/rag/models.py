"""Tenant documents and their chunks: tenant data under row-level security.

A Document is one uploaded file; ingestion (apps/rag/tasks.py) parses it into Chunks,
each with an embedding (HNSW, cosine) and a full-text vector for hybrid retrieval
(docs/retrieval.md: under RLS, full text goes through a signature column, not GIN).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.core.models import TenantScopedModel


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    EMBEDDING = "embedding", "Embedding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentQuerySet(models.QuerySet["Document"]):
    def shared(self) -> DocumentQuerySet:
        """The organisation's documents: what the Documents page, the API, search and
        summaries see. Private documents (a conversation's attachments) are left out even
        for their owner, who reaches them only through that conversation."""
        return self.filter(owner__isnull=True)


class Document(TenantScopedModel):
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set for a private document (a chat attachment, apps/chat/attachments.py): a
    # restrictive RLS policy shows the row, and its chunks, only when ``app.user_id`` is
    # this person (migration 0005); retrieval uses it only where the caller names it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    title = models.CharField(max_length=255)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    # Relative path in the configured storage; always under "tenants/<tenant_id>/".
    file = models.FileField(max_length=500, upload_to="tenants/", blank=True)
    status = models.CharField(
        max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED
    )
    error = models.TextField(blank=True)
    # Progress of the current ingestion: chunks embedded out of chunks to embed.
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    # Bumped on every (re-)ingestion; a task whose attempt is stale does nothing.
    ingest_attempt = models.PositiveIntegerField(default=0)
    ingested_at = models.DateTimeField(null=True, blank=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            # One copy of a file per organisation; an attachment is its owner's own copy.
            models.UniqueConstraint(
                fields=("tenant", "sha256"),
                condition=models.Q(owner__isnull=True),
                name="document_unique_content",
            )
        ]
        indexes = [models.Index(fields=("tenant", "-created_at"), name="document_tenant_idx")]

    def __str__(self) -> str:
        return self.title


class Chunk(TenantScopedModel):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # The document's owner, copied so the same RLS policy filters chunks row by row
    # (and the signature index stays index-only: migration 0005).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=500, blank=True)
    content = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=settings.EMBEDDING_DIM)
    search_vector = SearchVectorField(null=True)
    # Set at ingestion when the passage reads like instructions to a model (the
    # guardrails' injection check): shown to admins, quoted or left out of prompts.
    injection_flag = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ("document", "ordinal")
        constraints = [
            models.UniqueConstraint(fields=("document", "ordinal"), name="chunk_unique_ordinal")
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=("tenant", "document"), name="chunk_tenant_doc_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"
