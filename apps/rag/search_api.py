"""Search over the API: ranked chunks for a query, no chat model (django-ninja Router).

Mounted by config/api.py on the Starter API (apps/api/api.py), which authenticates the
key and enters its tenant before these endpoints run. ``GET /api/v1/search?q=…&k=…`` embeds the
query through the gateway (feature ``rag_search``, billed and rate-limited like any call,
recorded with the key's id) and returns the hybrid ranking of apps/rag/retrieval.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from ninja import Query, Router, Schema
from ninja.errors import ValidationError

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.scopes import Scope
from apps.gateway.types import CallContext, GatewayError
from apps.rag import retrieval
from apps.rag.annotations import document_summaries
from apps.rag.context import chunk_url

router = Router(tags=["search"])

MAX_K = 50
SEARCH_SCOPES = (Scope.READ, Scope.DOCUMENTS)
NO_DOCUMENTS_NOTE = (
    "No document of this organisation is ready to search yet. Upload documents "
    "(POST /api/v1/documents or the Documents page) and search again once they are ready."
)
NO_MATCH_NOTE = "No passage matched the query."


class SearchResult(Schema):
    rank: int
    score: float
    chunk_id: str
    document_id: str
    document_title: str
    heading: str
    content: str
    url: str
    document_summary: str | None


class SearchOut(Schema):
    query: str
    results: list[SearchResult]
    note: str | None


def _clean_query(q: str) -> str:
    try:
        return retrieval.clean_query(q)
    except retrieval.EmptyQuery:
        raise ValidationError(
            [{"loc": ("query", "q"), "msg": "The query is blank: send 1 to 1,000 characters"}]
        ) from None


def _result(rank: int, hit: retrieval.Hit, slug: str, summaries: dict[Any, str]) -> dict[str, Any]:
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "chunk_id": str(hit.chunk_id),
        "document_id": str(hit.document_id),
        "document_title": hit.document_title,
        "heading": hit.heading,
        "content": hit.content,
        "url": settings.SITE_URL + chunk_url(slug, hit.document_id, hit.chunk_id),
        "document_summary": summaries.get(hit.document_id),
    }


@router.get(
    "/search",
    response=SearchOut,
    summary="Ranked passages from the organisation's documents (no chat model)",
)
def search(
    request: KeyRequest,
    q: Annotated[str, Query(min_length=1, max_length=retrieval.MAX_QUERY_CHARS)],
    k: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
) -> dict[str, Any]:
    """Hybrid (vector + full-text) search of the key's organisation's ready documents.
    Each result carries its document's latest summary (``document_summary``) when it has
    one (Summaries, docs/summaries.md).

    ``k`` defaults to the organisation's "passages per answer" AI setting. Scope ``read``
    or ``documents``.
    """
    key = require_scope(request.api_key, *SEARCH_SCOPES)
    query = _clean_query(q)
    tenant = key.tenant
    if not retrieval.has_ready_documents(tenant.id):
        return {"query": query, "results": [], "note": NO_DOCUMENTS_NOTE}
    ctx = CallContext(
        tenant_id=tenant.id,
        feature=retrieval.FEATURE,
        user_id=key.created_by_id,
        api_key_id=key.id,
        request_id=request.request_id,
    )
    try:
        hits = retrieval.search(tenant.id, query, k=k, ctx=ctx)
    except GatewayError as error:
        raise ApiError.from_gateway(error) from error
    summaries = document_summaries(hit.document_id for hit in hits)
    results = [_result(rank, hit, tenant.slug, summaries) for rank, hit in enumerate(hits, start=1)]
    return {"query": query, "results": results, "note": None if results else NO_MATCH_NOTE}
