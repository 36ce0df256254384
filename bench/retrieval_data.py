"""Synthetic corpus for bench/retrieval.py: tenants of Zipf-like sizes, clustered vectors,
texts from a topic vocabulary, and the fast load into rag_document / rag_chunk."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

TOPICS = 256
TOPIC_WORDS = 40
VOCABULARY = 6_000
WORDS_PER_CHUNK = 60
CHUNKS_PER_DOCUMENT = 40
# Spread of a chunk around its topic centre and of a query around its chunk (norms of
# the noise before normalising): chunks of one topic sit at cosine ~0.6 to each other,
# a query at ~0.95 to its chunk, like a paraphrase under a sentence-embedding model.
CHUNK_NOISE = 0.8
QUERY_NOISE = 0.3
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _words(count: int, rng: np.random.Generator) -> list[str]:
    out: set[str] = set()
    while len(out) < count:
        out.add("".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))))
    return sorted(out)


def _normalise(x: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return normalised


@dataclass
class Tenant:
    id: uuid.UUID
    size: int
    start: int  # index of its first chunk in the corpus arrays
    documents: list[uuid.UUID] = field(default_factory=list)
    not_ready: uuid.UUID | None = None  # a document still "embedding" (its chunks hidden)


@dataclass
class Corpus:
    tenants: list[Tenant]
    vectors: np.ndarray[tuple[int, int], np.dtype[np.float32]]  # (chunks, dim), normalised
    texts: list[str]
    topics: np.ndarray  # topic of each chunk

    @classmethod
    def generate(
        cls, tenant_ids: list[uuid.UUID], chunks: int, dim: int, rng: np.random.Generator
    ) -> Corpus:
        weights = 1.0 / np.arange(1, len(tenant_ids) + 1)
        sizes = np.maximum(1, np.floor(chunks * weights / weights.sum())).astype(int)
        sizes[0] += chunks - sizes.sum()
        centres = _normalise(rng.standard_normal((TOPICS, dim)))
        vocabulary = _words(VOCABULARY, rng)
        topic_words = [rng.choice(vocabulary, TOPIC_WORDS, replace=False) for _ in range(TOPICS)]
        common = np.array(vocabulary)
        zipf = 1.0 / np.arange(1, len(common) + 1)
        zipf /= zipf.sum()
        tenants, topics, start = [], [], 0
        for tenant_id, size in zip(tenant_ids, sizes, strict=True):
            own = rng.choice(TOPICS, size=int(min(24, max(2, size // 60))), replace=False)
            topics.append(rng.choice(own, size=int(size)))
            tenants.append(Tenant(tenant_id, int(size), start))
            start += int(size)
        topic = np.concatenate(topics)
        noise = rng.standard_normal((chunks, dim)).astype(np.float32)
        noise *= CHUNK_NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = _normalise(centres[topic].astype(np.float32) + noise).astype(np.float32)
        half = WORDS_PER_CHUNK // 2
        own_words = np.array(topic_words)[
            topic[:, None], rng.integers(TOPIC_WORDS, size=(chunks, half))
        ]
        common_words = common[rng.choice(len(common), size=(chunks, half), p=zipf)]
        words = rng.permuted(np.concatenate([own_words, common_words], axis=1), axis=1)
        texts = [" ".join(row) + "." for row in words]
        return cls(tenants, vectors, texts, topic)

    def query(self, tenant: Tenant, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """Three words of one of the tenant's ready chunks and its vector, perturbed."""
        last = tenant.size - (1 if tenant.not_ready else 0)
        index = tenant.start + int(rng.integers(max(1, last)))
        noise = rng.standard_normal(self.vectors.shape[1]).astype(np.float32)
        vector = _normalise(self.vectors[index] + QUERY_NOISE * noise / np.linalg.norm(noise))
        words = self.texts[index].rstrip(".").split()
        return " ".join(rng.choice(words, 3, replace=False)), vector


def _document_of(tenant: Tenant, offset: int) -> uuid.UUID:
    if tenant.not_ready is not None and offset == tenant.size - 1:
        return tenant.not_ready
    return tenant.documents[offset // CHUNKS_PER_DOCUMENT]


def copy_to_staging(conn: psycopg.Connection[TupleRow], corpus: Corpus) -> None:
    """Binary COPY of every chunk into a temporary table (no RLS on temp tables)."""
    conn.execute(
        "CREATE TEMP TABLE staging (tenant_id uuid, document_id uuid, ordinal int, "
        "heading text, content text, embedding vector)"
    )
    for tenant in corpus.tenants:
        count = max(1, -(-tenant.size // CHUNKS_PER_DOCUMENT))
        tenant.documents = [uuid.uuid4() for _ in range(count)]
        # The last chunk of a tenant with 100+ chunks belongs to a document still being
        # ingested: searches must skip it.
        tenant.not_ready = uuid.uuid4() if tenant.size >= 100 else None
    with conn.cursor() as cur:
        copy_sql = "COPY staging FROM STDIN WITH (FORMAT BINARY)"
        with cur.copy(copy_sql) as copy:
            copy.set_types(["uuid", "uuid", "int4", "text", "text", "vector"])
            for tenant in corpus.tenants:
                for offset in range(tenant.size):
                    i = tenant.start + offset
                    copy.write_row(
                        (
                            tenant.id,
                            _document_of(tenant, offset),
                            offset,
                            f"Topic {corpus.topics[i]}",
                            corpus.texts[i],
                            corpus.vectors[i],
                        )
                    )
    conn.execute("CREATE INDEX ON staging (tenant_id)")
    conn.execute("ANALYZE staging")


_DOCUMENT_SQL = """
INSERT INTO rag_document (id, tenant_id, title, filename, content_type, size_bytes, sha256,
    file, status, error, chunks_total, chunks_done, token_count, ingest_attempt, ingested_at,
    created_at, updated_at)
SELECT d.id, %(tenant)s, 'Document ' || d.n, 'doc-' || d.n || '.md', 'text/markdown', 1000,
    md5(d.id::text) || md5(d.n::text), '', d.status, '', 0, 0, 0, 1, now(), now(), now()
FROM unnest(%(ids)s::uuid[], %(statuses)s::text[]) WITH ORDINALITY AS d(id, status, n)
"""

_CHUNK_SQL = """
INSERT INTO rag_chunk (id, tenant_id, document_id, ordinal, heading, content, token_count,
    embedding, search_vector, injection_flag, created_at, updated_at)
SELECT gen_random_uuid(), tenant_id, document_id, ordinal, heading, content, 80, embedding,
    to_tsvector('english', heading || ' ' || content), '', now(), now()
FROM staging WHERE tenant_id = %(tenant)s
"""


_COUNTS_SQL = """
UPDATE rag_document d SET chunks_total = s.n, chunks_done = s.n
FROM (SELECT document_id, count(*) AS n FROM staging WHERE tenant_id = %(tenant)s
      GROUP BY document_id) AS s
WHERE d.id = s.document_id AND d.tenant_id = %(tenant)s
"""


def insert_from_staging(conn: psycopg.Connection[TupleRow], corpus: Corpus) -> None:
    """One transaction per tenant under its tenant context, as ingestion would write."""
    for tenant in corpus.tenants:
        ids = [*tenant.documents, *([tenant.not_ready] if tenant.not_ready else [])]
        statuses = ["ready"] * len(tenant.documents) + (["embedding"] if tenant.not_ready else [])
        params = {"tenant": tenant.id, "ids": ids, "statuses": statuses}
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.id)])
            conn.execute(_DOCUMENT_SQL, params)
            conn.execute(_CHUNK_SQL, params)
            conn.execute(_COUNTS_SQL, params)


def store_rate(corpus: Corpus, rng: np.random.Generator, chunks: int) -> dict[str, Any]:
    """Chunk-store step alone: multi-row INSERTs of 100 rows (with tsvector) as the runtime
    role through the Django connection, HNSW and GIN indexes live, into the biggest
    tenant's new document."""
    from django.db import connection

    from apps.core.db import tenant_context
    from apps.rag.models import Chunk, Document, DocumentStatus
    from apps.rag.retrieval import vector_literal

    tenant = corpus.tenants[0]
    with tenant_context(tenant.id):
        document = Document.objects.create(
            tenant_id=tenant.id,
            title="Store benchmark",
            filename="store.md",
            sha256=hashlib.sha256(b"store").hexdigest(),
            status=DocumentStatus.EMBEDDING,
        )
    picks = rng.integers(len(corpus.texts), size=chunks)
    started = time.perf_counter()
    for batch_start in range(0, chunks, 100):
        batch = picks[batch_start : batch_start + 100]
        rows = [
            (str(uuid.uuid4()), batch_start + j, corpus.texts[i], vector_literal(corpus.vectors[i]))
            for j, i in enumerate(batch)
        ]
        values = ", ".join(
            ["(%s, %s, %s, %s, '', %s, 80, %s::vector, to_tsvector('english', %s), now(), now())"]
            * len(rows)
        )
        params: list[Any] = []
        for chunk_id, ordinal, text, vector in rows:
            params += [chunk_id, str(tenant.id), str(document.id), ordinal, text, vector, text]
        with tenant_context(tenant.id), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Chunk._meta.db_table} (id, tenant_id, document_id, ordinal, "  # noqa: S608
                "heading, content, token_count, embedding, search_vector, created_at, "
                f"updated_at) VALUES {values}",
                params,
            )
    elapsed = time.perf_counter() - started
    return {"chunks_per_s": chunks / elapsed, "method": "chunk-store step only"}


def _embed_rate(tenant_id: uuid.UUID, corpus: Corpus, rng: np.random.Generator) -> float:
    """The gateway's embedding call alone, on chunk-sized texts in batches of 32: the share
    of ingestion that is the model (the local provider runs MiniLM on this machine's CPU)."""
    from apps.gateway import api as gateway
    from apps.gateway.types import CallContext

    ctx = CallContext(tenant_id=tenant_id, feature="rag_ingest")
    texts = [
        " ".join(corpus.texts[int(i)] for i in rng.integers(len(corpus.texts), size=5))
        for _ in range(96)
    ]
    gateway.embed_sync(ctx, texts[:8])  # warm-up
    started = time.perf_counter()
    for batch in range(0, len(texts), 32):
        gateway.embed_sync(ctx, texts[batch : batch + 32])
    return len(texts) / (time.perf_counter() - started)


def real_ingest_rate(corpus: Corpus, rng: np.random.Generator, chunks: int) -> dict[str, Any]:
    """The real path: ``services.document_create`` (store the file, queue ingestion) with
    Celery eager, so the commit runs ``ingest_document``: parse, chunk, embed through the
    gateway and the local provider (real MiniLM), store. Markdown documents of eight
    sections, written from the corpus vocabulary, until ``chunks`` chunks are stored."""
    from django.db.models import Sum

    from apps.core.db import tenant_context
    from apps.rag.models import Document, DocumentStatus
    from apps.rag.services import document_create
    from apps.tenants.models import Membership, Role, Tenant

    tenant_id = corpus.tenants[-1].id  # a small tenant: its searches are not disturbed
    with tenant_context(tenant_id):
        tenant = Tenant.objects.get(id=tenant_id)
        owner = Membership.objects.get(tenant_id=tenant_id, role=Role.OWNER)
    stored, documents, elapsed = 0, 0, 0.0
    while stored < chunks:
        sections = []
        for s in range(8):
            paragraphs = [corpus.texts[int(i)] for i in rng.integers(len(corpus.texts), size=6)]
            sections.append(f"## Section {s}\n\n" + "\n\n".join(paragraphs))
        data = f"# Generated {documents}\n\n" + "\n\n".join(sections)
        started = time.perf_counter()
        with tenant_context(tenant_id):
            document, _ = document_create(
                tenant=tenant, actor=owner, filename=f"gen-{documents}.md", data=data.encode()
            )
        elapsed += time.perf_counter() - started  # the eager ingestion runs at commit
        with tenant_context(tenant_id):
            document = Document.objects.get(id=document.id)
        if document.status != DocumentStatus.READY:
            raise RuntimeError(f"ingestion ended {document.status}: {document.error}")
        stored += document.chunks_total
        documents += 1
    with tenant_context(tenant_id):
        tokens = Document.objects.filter(filename__startswith="gen-").aggregate(
            t=Sum("token_count")
        )
    return {
        "chunks_per_s": stored / elapsed,
        "embed_only_chunks_per_s": _embed_rate(tenant_id, corpus, rng),
        "method": "apps.rag.ingest.ingest_document via services.document_create, local provider",
        "documents": documents,
        "chunks": stored,
        "tokens": tokens["t"],
    }
