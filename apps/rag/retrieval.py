"""Hybrid retrieval: a tenant's ready chunks ranked by meaning and by words, then fused.

One SQL statement builds two candidate lists and fuses them by reciprocal rank fusion
(RRF, k=60: ``score = 1/(60 + vector_rank) + 1/(60 + text_rank)``, a missing rank
adds nothing):

- **vector**: cosine kNN on ``rag_chunk.embedding``. A tenant with more than
  ``RAG_EXACT_SCAN_MAX_CHUNKS`` chunks walks the HNSW index; the runtime role has
  ``hnsw.iterative_scan = relaxed_order``, so a scan whose rows are mostly other
  tenants' (dropped by the tenant predicate and RLS after the index) keeps going until
  it has enough of this tenant's rows, and the relaxed order is re-sorted by distance.
  A smaller tenant gets an exact scan (its rows by btree, sorted by distance): faster
  there and exact. docs/retrieval.md has the measurements behind the threshold.
- **full text**: ``websearch_to_tsquery('english', q)`` against ``search_vector``, ranked
  by ``ts_rank_cd``. Under RLS PostgreSQL cannot use the GIN index for ``@@`` (it is
  not LEAKPROOF), so candidates come from a Bloom-signature index instead (see
  ``_TEXT_SIGNATURE`` and migration 0002).

Every part of the statement carries an explicit ``tenant_id`` predicate on top of row-level
security, and only chunks of documents whose status is ``ready`` are candidates. Private
documents (chat attachments, visible under RLS to their owner alone) are candidates only
when the caller names them in ``include`` (the conversation's own attachments): another
of the owner's conversations does not draw on them. The query
embedding comes from the gateway (``feature="rag_search"``), unless the caller passes a
precomputed one (the benchmark does, to time the database path alone).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Q

from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.gateway import api as gateway
from apps.gateway.models import AISettings
from apps.gateway.types import CallContext
from apps.rag.models import Document, DocumentStatus

FEATURE = "rag_search"
RRF_K = 60
# Each list contributes at least this many candidates to the fusion: a chunk ranked
# 30th by one list and 3rd by the other can still make the top k.
MIN_CANDIDATES = 40
DEFAULT_TOP_K = 5
# Full text ranks at most this many matching chunks. Words so common that more chunks
# match say little about the question (the vector list carries it), and ranking every
# match of a big tenant cost ~100 ms in bench/retrieval.py; past the cap, which matches
# get ranked is arbitrary.
TEXT_MATCH_CAP = 2000
MAX_QUERY_CHARS = 1000

Plan = Literal["auto", "exact", "hnsw"]
TextMode = Literal["signature", "scan"]
_TenantId = uuid.UUID | str


class EmptyQuery(ServiceError):
    def __init__(self) -> None:
        super().__init__("Type a few words to search for.", code="empty_query")


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk. ``vector_rank`` / ``text_rank`` are its 1-based places in the
    two candidate lists (None when that list did not return it); ``score`` is the RRF sum."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_title: str
    ordinal: int
    heading: str
    content: str
    score: float
    vector_rank: int | None
    text_rank: int | None
    private: bool = False  # from a private document (a chat attachment)


# The vector CTE's ORDER BY: the bare distance lets the planner walk the HNSW index;
# "+ 0" is an expression no index provides, so the tenant's rows are read by btree and
# sorted (an exact scan) with no session setting to toggle and restore.
_VECTOR_ORDER = {"hnsw": "distance", "exact": "(c.embedding <=> %(embedding)s::vector) + 0"}

_HEAD = """
WITH left_out AS MATERIALIZED (
    -- Few rows (documents being ingested or failed, the user's own private documents
    -- that were not asked for): cheap to test on every index hit, unlike a join with
    -- the searchable ones, which would end the HNSW index's ordered scan.
    SELECT coalesce(array_agg(id), '{{}}') AS ids FROM rag_document
    WHERE tenant_id = %(tenant)s
      AND (status <> 'ready' OR (owner_id IS NOT NULL AND id <> ALL (%(include)s::uuid[])))
),
q AS MATERIALIZED (
    SELECT query FROM websearch_to_tsquery('english', %(text)s) AS query
),
vector_hits AS MATERIALIZED (
    SELECT c.id, c.embedding <=> %(embedding)s::vector AS distance
    FROM rag_chunk c
    WHERE c.tenant_id = %(tenant)s
      AND c.document_id <> ALL ((SELECT ids FROM left_out)::uuid[])
    ORDER BY {vector_order}
    LIMIT %(candidates)s
),
vector_ranked AS (
    -- relaxed_order may return index hits slightly out of order: rank by true distance.
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM vector_hits
),
"""

# Full text, two ways. Under RLS the GIN index is unusable ("@@" is not LEAKPROOF, so it
# may not run before the policy), so either the tenant's rows are read and matched one
# by one ("scan"), or, when every lexeme of the query is required (no "or", no "-"), an
# index-only scan keeps the rows whose Bloom signature holds the query's bits and only
# those are matched ("signature"; migration 0002). The SQL re-checks that the query has
# no OR, NOT or escape before trusting the signature; otherwise it prunes nothing.
# Both ways end by ranking the matches (at most TEXT_MATCH_CAP of them).
_TEXT_RANKED = """
text_ranked AS (
    SELECT m.id,
           row_number() OVER (ORDER BY ts_rank_cd(m.search_vector, q.query) DESC, m.id) AS rank
    FROM text_matches m, q
    ORDER BY rank
    LIMIT %(candidates)s
),
"""
_TEXT_SCAN = """
text_matches AS MATERIALIZED (
    SELECT c.id, c.search_vector FROM rag_chunk c
    WHERE c.tenant_id = %(tenant)s
      AND c.search_vector @@ (SELECT query FROM q)
      AND c.document_id <> ALL ((SELECT ids FROM left_out)::uuid[])
    LIMIT %(match_cap)s
),
"""
_TEXT_SIGNATURE = r"""
signature AS MATERIALIZED (
    SELECT CASE WHEN query::text ~ '[|!\\]' THEN repeat('0', 1024)::bit(1024)
           ELSE rag_search_signature(ARRAY(
               SELECT replace(m[1], '''''', '''')
               FROM regexp_matches(query::text, '''((?:[^'']|'''')*)''', 'g') AS m))
           END AS bits
    FROM q
),
text_candidates AS MATERIALIZED (
    SELECT c.id FROM rag_chunk c
    WHERE c.tenant_id = %(tenant)s
      AND (c.search_signature & (SELECT bits FROM signature)) = (SELECT bits FROM signature)
      AND c.document_id <> ALL ((SELECT ids FROM left_out)::uuid[])
),
text_matches AS MATERIALIZED (
    SELECT c.id, c.search_vector FROM text_candidates t
    JOIN rag_chunk c ON c.id = t.id AND c.tenant_id = %(tenant)s
    WHERE c.search_vector @@ (SELECT query FROM q)
    LIMIT %(match_cap)s
),
"""

_TAIL = """
fused AS (
    -- The top k by RRF before touching the chunks' text: k primary-key lookups follow.
    SELECT coalesce(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank,
           (coalesce(1.0 / (%(rrf_k)s + v.rank), 0)
             + coalesce(1.0 / (%(rrf_k)s + t.rank), 0))::float8 AS score
    FROM vector_ranked v FULL JOIN text_ranked t ON t.id = v.id
    ORDER BY score DESC, vector_rank NULLS LAST, text_rank NULLS LAST, id
    LIMIT %(k)s
)
SELECT c.id, c.document_id, d.title, c.ordinal, c.heading, c.content,
       f.score, f.vector_rank, f.text_rank, d.owner_id IS NOT NULL
FROM fused f
JOIN rag_chunk c ON c.id = f.id AND c.tenant_id = %(tenant)s
JOIN rag_document d ON d.id = c.document_id AND d.tenant_id = %(tenant)s AND d.status = 'ready'
ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.text_rank NULLS LAST, c.id
"""

# websearch_to_tsquery's OR ("or" between words) and NOT ("-word"): a query with either
# does not require all its lexemes, so the signature cannot prune for it.
_OR_NOT_RE = re.compile(r"(?:^|\s)(?:or(?=\s)|-\S)", re.IGNORECASE)

# The tenant's searchable size from its ready documents' chunk counts: a few hundred rows
# at most, where counting the chunks themselves cost ~3 ms for a 27k-chunk tenant. A
# count that lags (0 during a re-ingest) only picks the exact plan: slower, never wrong.
_PREPARE_SQL = """
SELECT set_config('hnsw.ef_search', %(ef_search)s, true),
       (SELECT coalesce(sum(chunks_total), 0) FROM rag_document
        WHERE tenant_id = %(tenant)s AND status = 'ready')
"""


def text_mode(text: str) -> TextMode:
    """ "signature" when every word of ``text`` is required, else "scan"."""
    return "scan" if _OR_NOT_RE.search(text) else "signature"


def hybrid_sql(plan: Literal["exact", "hnsw"], mode: TextMode = "signature") -> str:
    """The fused statement for a vector plan and a full-text mode; parameters from
    ``hybrid_params``. Public so tests can run it as a server-side prepared statement."""
    head = _HEAD.format(vector_order=_VECTOR_ORDER[plan])
    return head + _TEXT[mode] + _TEXT_RANKED + _TAIL


_TEXT: dict[TextMode, str] = {"signature": _TEXT_SIGNATURE, "scan": _TEXT_SCAN}


def hybrid_params(
    tenant_id: _TenantId,
    text: str,
    embedding: Sequence[float],
    k: int,
    include: Sequence[uuid.UUID] = (),
) -> dict[str, Any]:
    return {
        "include": [uuid.UUID(str(i)) for i in include],
        "tenant": str(tenant_id),
        "embedding": vector_literal(embedding),
        "text": text,
        "candidates": candidates_for(k),
        "rrf_k": RRF_K,
        "match_cap": TEXT_MATCH_CAP,
        "k": k,
    }


def vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in embedding) + "]"


def candidates_for(k: int) -> int:
    return max(2 * k, MIN_CANDIDATES)


def clean_query(query: str) -> str:
    """The query with whitespace collapsed; raises EmptyQuery for a blank one."""
    text = " ".join(str(query).split())[:MAX_QUERY_CHARS]
    if not text:
        raise EmptyQuery()
    return text


def choose_plan(tenant_id: _TenantId, k: int) -> Literal["exact", "hnsw"]:
    """Exact scan up to RAG_EXACT_SCAN_MAX_CHUNKS chunks, HNSW above. It also sets this
    transaction's ``hnsw.ef_search`` (same round trip). Call inside tenant_context."""
    ef_search = max(settings.RAG_HNSW_EF_SEARCH, candidates_for(k))
    with connection.cursor() as cursor:
        cursor.execute(_PREPARE_SQL, {"ef_search": str(ef_search), "tenant": str(tenant_id)})
        size = cursor.fetchone()[1]
    return "exact" if size <= settings.RAG_EXACT_SCAN_MAX_CHUNKS else "hnsw"


def hybrid_search(
    tenant_id: _TenantId,
    text: str,
    embedding: Sequence[float],
    *,
    k: int,
    plan: Plan = "auto",
    include: Sequence[uuid.UUID] = (),
) -> list[Hit]:
    """The fused ranking for an embedded query. Call inside ``tenant_context(tenant_id)``:
    without it row-level security shows no rows and this returns [] (fail closed).
    ``include``: private documents to search too; the context's ``user_id`` must be their
    owner's, or RLS hides them anyway."""
    chosen = choose_plan(tenant_id, k)  # sets ef_search even when the plan is forced
    if plan != "auto":
        chosen = plan
    with connection.cursor() as cursor:
        cursor.execute(
            hybrid_sql(chosen, text_mode(text)),
            hybrid_params(tenant_id, text, embedding, k, include),
        )
        return [Hit(*row) for row in cursor.fetchall()]


def top_k_for(tenant_id: _TenantId) -> int:
    """The tenant's "passages per answer" (AISettings.rag_top_k). Call inside tenant_context."""
    value = (
        AISettings.objects.filter(tenant_id=tenant_id).values_list("rag_top_k", flat=True).first()
    )
    return value or DEFAULT_TOP_K


def has_ready_documents(tenant_id: _TenantId, include: Sequence[uuid.UUID] = ()) -> bool:
    """Whether any shared document, or one of the private ones in ``include``, is
    searchable. Call inside tenant_context (with the owner's user_id for ``include``)."""
    return (
        Document.objects.filter(tenant_id=tenant_id, status=DocumentStatus.READY)
        .filter(Q(owner__isnull=True) | Q(id__in=list(include)))
        .exists()
    )


def _search_context(tenant_id: _TenantId, ctx: CallContext | None) -> CallContext:
    if ctx is None:
        return CallContext(tenant_id=tenant_id, feature=FEATURE)
    if str(ctx.tenant_id) != str(tenant_id):
        raise ValueError("The call context belongs to another tenant.")
    return dataclasses.replace(ctx, feature=FEATURE)


@dataclass(frozen=True)
class _Scope:
    """Whose private documents a search may include: the context's user, named ids."""

    user_id: int | None = None
    include: tuple[uuid.UUID, ...] = ()


def _scope(ctx: CallContext | None, include: Sequence[uuid.UUID]) -> _Scope:
    if not include:
        return _Scope()
    if ctx is None or ctx.user_id is None:
        raise ValueError("Private documents are searched for their owner: pass ctx.user_id.")
    return _Scope(int(ctx.user_id), tuple(include))


def _search_in_tenant(
    tenant_id: _TenantId,
    text: str,
    embedding: Sequence[float],
    k: int | None,
    plan: Plan,
    scope: _Scope,
) -> list[Hit]:
    with tenant_context(tenant_id, user_id=scope.user_id):
        return hybrid_search(
            tenant_id,
            text,
            embedding,
            k=k if k is not None else top_k_for(tenant_id),
            plan=plan,
            include=scope.include,
        )


def search(
    tenant_id: _TenantId,
    query: str,
    *,
    k: int | None = None,
    ctx: CallContext | None = None,
    embedding: Sequence[float] | None = None,
    plan: Plan = "auto",
    include: Sequence[uuid.UUID] = (),
) -> list[Hit]:
    """The tenant's top ``k`` chunks for ``query`` (k defaults to AISettings.rag_top_k).

    The query is embedded through the gateway (limits, budget and ledger apply, feature
    ``rag_search``; ``ctx`` supplies user, key and request id) before the tenant's
    transaction opens, so no transaction waits on the model. Pass ``embedding`` to skip
    that call. ``include``: private documents of ``ctx.user_id`` to search as well as the
    shared ones. Raises EmptyQuery, or GatewayError when the embedding call is refused.
    """
    text = clean_query(query)
    scope = _scope(ctx, include)
    if embedding is None:
        embedding = gateway.embed_sync(_search_context(tenant_id, ctx), [text])[0]
    return _search_in_tenant(tenant_id, text, embedding, k, plan, scope)


async def asearch(
    tenant_id: _TenantId,
    query: str,
    *,
    k: int | None = None,
    ctx: CallContext | None = None,
    embedding: Sequence[float] | None = None,
    plan: Plan = "auto",
    include: Sequence[uuid.UUID] = (),
) -> list[Hit]:
    """``search`` for the event loop (the chat): the embedding call is awaited, the
    database work runs in Django's thread-sensitive executor inside tenant_context."""
    text = clean_query(query)
    scope = _scope(ctx, include)
    if embedding is None:
        embedding = (await gateway.embed(_search_context(tenant_id, ctx), [text]))[0]
    return await sync_to_async(_search_in_tenant)(tenant_id, text, embedding, k, plan, scope)
