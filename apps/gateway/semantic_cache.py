"""Step 5b: the semantic cache: a question answered before, found again by meaning.

Entries live in PostgreSQL (pgvector, HNSW cosine index) under row-level security and
are keyed by tenant + model alias + system-prompt hash; queries also carry an explicit
tenant predicate. It is used only for a single question with no history (history can
change the answer). A candidate must reach the tenant's cosine floor AND pass the
decision (``cache_verifier.decision``: named facts, roles and qualifiers agree, and a
scorer trained on held-apart pairs is sure): a threshold alone gives wrong answers
(docs/gateway.md). The decision gets both questions' embeddings (the query's, and each
candidate's as stored) with the name of the model behind the ``embed`` alias, so that its
pair model runs only on vectors of the model it was trained on. Only the candidates that
reach the floor bring their vectors back (5 x 384 floats as text cost ~0.6 ms). The
candidates at the floor or over it are decided together (``decide_candidates``), so that
the pair reader (version 9, the shipped decision) runs at most once per lookup.

A lookup writes nothing: each answer served is recorded once, as a ``SemanticCacheHit``
row with the hit's ledger row. (An entry used to count its hits too; that update of a 2 KB
row under an HNSW index cost 2.6 ms of every served lookup and was read nowhere.)
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection

from apps.core.db import tenant_context
from apps.gateway import router
from apps.gateway.cache_verifier.decision import Embeddings, decide_candidates
from apps.gateway.local_provider.devmodel import EMBED_MODEL as LOCAL_EMBED_MODEL
from apps.gateway.models import SemanticCacheEntry

CANDIDATES = 5
# Up to this many entries under one key, an exact scan (btree on the key, then sort by
# distance) is faster than HNSW, whose filter-after-scan must walk far past other
# tenants' rows to find a small tenant's (measured in bench/gateway.py). It is exact too.
EXACT_SCAN_MAX = 3_000
# How long a process trusts its count of a key's entries (the plan: exact scan or HNSW).
# Counting up to EXACT_SCAN_MAX + 1 rows cost 1.5 ms of every lookup of a large key; a key
# that crosses the line meanwhile is searched by the other plan for at most this long,
# which is slower but returns the same nearest questions (HNSW approximately).
PLAN_TTL_S = 60.0
_PLANS_MAX = 10_000  # keys remembered per process; all forgotten when full
# What the local provider's embedding alias serves (apps/gateway/local_provider/embeddings.py).
LOCAL_EMBEDDINGS = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class SemanticHit:
    entry_id: uuid.UUID
    question: str  # the incoming question the entry answered
    query: str  # the cached question
    response: str
    served_model: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    similarity: float
    score: float


def cacheable_question(messages: list[dict[str, Any]]) -> str | None:
    """The question when the conversation is one user message (system prompts aside)."""
    turns = [m for m in messages if m.get("role") != "system"]
    if len(turns) == 1 and turns[0].get("role") == "user":
        text = str(turns[0].get("content") or "").strip()
        return text or None
    return None


def embedding_model() -> str | None:
    """The embedding model behind the ``embed`` alias, by its own name ("all-MiniLM-L6-v2",
    "text-embedding-3-small"), or None when more than one deployment serves the alias: a
    fallback may then have embedded the query and a cached question with different models."""
    deployments = router.deployments_for("embed")
    if len(deployments) != 1:
        return None
    name = deployments[0].model.split("/", 1)[-1]
    return LOCAL_EMBEDDINGS if name == LOCAL_EMBED_MODEL else name


_plans: dict[tuple[str, str, str], tuple[bool, float]] = {}
_plans_lock = threading.Lock()
_clock = time.monotonic


def _exact_scan(cursor: Any, tenant_id: str, alias: str, system_prompt_hash: str) -> bool:
    """Whether the key holds at most EXACT_SCAN_MAX entries, counted at most once per
    PLAN_TTL_S per process. Call inside the key's tenant_context."""
    key = (tenant_id, alias, system_prompt_hash)
    now = _clock()
    known = _plans.get(key)
    if known is not None and known[1] > now:
        return known[0]
    cursor.execute(
        """
        SELECT count(*) FROM (
            SELECT 1 FROM gateway_semanticcacheentry
            WHERE tenant_id = %s AND model_alias = %s AND system_prompt_hash = %s
            LIMIT %s
        ) AS capped
        """,
        [tenant_id, alias, system_prompt_hash, EXACT_SCAN_MAX + 1],
    )
    exact: bool = cursor.fetchone()[0] <= EXACT_SCAN_MAX
    with _plans_lock:
        if len(_plans) >= _PLANS_MAX:
            _plans.clear()
        _plans[key] = (exact, now + PLAN_TTL_S)
    return exact


def forget_plans() -> None:
    """Forget every key's count (tests; a process that bulk-deleted entries)."""
    with _plans_lock:
        _plans.clear()


def _vector_literal(embedding: list[float]) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in embedding) + "]"


def lookup_sync(
    *,
    tenant_id: str,
    alias: str,
    system_prompt_hash: str,
    query: str,
    embedding: list[float],
    threshold: float,
) -> SemanticHit | None:
    vector = _vector_literal(embedding)
    model = embedding_model()
    with tenant_context(tenant_id), connection.cursor() as cursor:
        exact = _exact_scan(cursor, tenant_id, alias, system_prompt_hash)
        if exact:  # no index scan: the planner takes the key's btree bitmap, then sorts
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
        cursor.execute(
            """
            SELECT id, query, response, served_model, tokens_in, tokens_out, cost_usd,
                   similarity, CASE WHEN similarity >= %s THEN embedding::real[] END
            FROM (
                SELECT *, 1 - (embedding <=> %s::vector) AS similarity
                FROM gateway_semanticcacheentry
                WHERE tenant_id = %s AND model_alias = %s AND system_prompt_hash = %s
                ORDER BY embedding <=> %s::vector
                LIMIT %s
            ) AS nearest
            ORDER BY similarity DESC
            """,
            [threshold, vector, tenant_id, alias, system_prompt_hash, vector, CANDIDATES],
        )
        rows = cursor.fetchall()
        if exact:
            cursor.execute("SELECT set_config('enable_indexscan', 'on', true)")
        # Only candidates at the floor or over it are decided, together (the pair reader's one
        # forward per lookup).
        rows = [row for row in rows if row[7] >= threshold]
        candidates = [(row[1], row[7], Embeddings(model, embedding, row[8] or [])) for row in rows]
        decisions = decide_candidates(query, candidates, floor=threshold)
        for row, decision in zip(rows, decisions, strict=True):
            if not decision.hit:
                continue
            entry_id, cached_query, response, served, t_in, t_out, cost, similarity, _ = row
            return SemanticHit(
                entry_id,
                query,
                cached_query,
                response,
                served,
                t_in,
                t_out,
                cost,
                similarity,
                decision.score,
            )
    return None


def store_sync(
    *,
    tenant_id: str,
    alias: str,
    system_prompt_hash: str,
    query: str,
    embedding: list[float],
    response: str,
    served_model: str,
    tokens_in: int,
    tokens_out: int,
    cost_usd: Decimal,
) -> None:
    with tenant_context(tenant_id):
        SemanticCacheEntry.objects.create(
            tenant_id=tenant_id,
            model_alias=alias,
            system_prompt_hash=system_prompt_hash,
            query=query,
            embedding=embedding,
            response=response,
            served_model=served_model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
        )


lookup = sync_to_async(lookup_sync)
store = sync_to_async(store_sync)


async def embed_for_evaluation(texts: list[str]) -> list[list[float]]:
    """Questions embedded as the cache embeds them (the ``embed`` alias through the
    gateway's router), for evaluation only: no tenant, so no ledger row and no limits."""
    await router.litellm_loaded()
    response = await router.get_router().aembedding(model="embed", input=texts)
    return [list(item["embedding"]) for item in response.data]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity, as pgvector's ``1 - (a <=> b)``."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
