"""Hybrid retrieval: full text finds keywords, vectors find paraphrases, RRF fuses them;
only ready documents; the query embedding goes through the gateway as ``rag_search``."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from pytest_django import Settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.gateway.types import CallContext
from apps.rag import retrieval
from apps.rag.models import DocumentStatus
from apps.rag.retrieval import (
    RRF_K,
    EmptyQuery,
    Hit,
    Plan,
    TextMode,
    asearch,
    hybrid_search,
    search,
)
from apps.tenants.models import Tenant
from tests.rag.test_retrieval_support import DocumentAndChunks, embed, make_document, set_ai

SECTIONS = [
    ("Refunds", "Customers on a yearly plan can ask for a full refund within 30 days."),
    ("Error codes", "Error QX7-PLUTO-19 means the upload is larger than the storage quota."),
    ("Backups", "Databases are backed up every hour and kept for 35 days."),
    ("Travel", "Hotels are reimbursed up to 180 euros a night in capital cities."),
    ("Leave", "Full-time employees get 28 days of paid holiday a year."),
]


@pytest.fixture
def handbook(tenant: Tenant) -> DocumentAndChunks:
    return make_document(tenant, "Handbook", SECTIONS)


def by_heading(hits: list[Hit]) -> list[str]:
    return [h.heading for h in hits]


def test_keyword_only_match_is_found_through_full_text(
    tenant: Tenant, handbook: DocumentAndChunks
) -> None:
    hits = search(tenant.id, "QX7-PLUTO-19", k=3)

    assert hits[0].heading == "Error codes"
    assert hits[0].text_rank == 1
    # Only that chunk contains the code, so no other hit has a full-text rank.
    assert [h.text_rank for h in hits[1:]] == [None] * (len(hits) - 1)


def test_paraphrase_is_found_through_vectors(tenant: Tenant, handbook: DocumentAndChunks) -> None:
    hits = search(tenant.id, "Can I get my money back?", k=3)

    assert hits[0].heading == "Refunds"
    assert hits[0].vector_rank == 1
    assert all(h.text_rank is None for h in hits)  # no word in common: full text found nothing


def test_rrf_puts_a_chunk_found_by_both_lists_above_one_found_by_one(
    tenant: Tenant, handbook: DocumentAndChunks
) -> None:
    # The query vector is the Backups chunk's own text (vector rank 1); the query words
    # match only the Travel chunk. Travel: 1/(60+1) + 1/(60+r) beats Backups: 1/(60+1).
    vector = embed(tenant, ["Databases are backed up every hour and kept for 35 days."])[0]

    hits = search(tenant.id, "hotels reimbursed euros", k=5, embedding=vector)

    assert by_heading(hits)[:2] == ["Travel", "Backups"]
    travel, backups = hits[0], hits[1]
    assert (backups.vector_rank, backups.text_rank) == (1, None)
    assert travel.text_rank == 1
    assert travel.vector_rank is not None
    assert travel.vector_rank > 1
    for hit in hits:
        expected = sum(1 / (RRF_K + r) for r in (hit.vector_rank, hit.text_rank) if r)
        assert hit.score == pytest.approx(expected, abs=1e-9)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hit_carries_the_chunk_and_its_document(
    tenant: Tenant, handbook: DocumentAndChunks
) -> None:
    document, chunks = handbook
    hit = search(tenant.id, "QX7-PLUTO-19", k=1)[0]
    chunk = next(c for c in chunks if c.heading == "Error codes")

    assert (hit.chunk_id, hit.document_id, hit.document_title) == (
        chunk.id,
        document.id,
        "Handbook",
    )
    assert (hit.ordinal, hit.content) == (1, SECTIONS[1][1])


def test_k_defaults_to_the_tenants_passages_per_answer(
    tenant: Tenant, handbook: DocumentAndChunks
) -> None:
    set_ai(tenant, rag_top_k=3)

    assert len(search(tenant.id, "holiday")) == 3
    assert len(search(tenant.id, "holiday", k=2)) == 2


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
@pytest.mark.parametrize(
    "status",
    [
        DocumentStatus.QUEUED,
        DocumentStatus.PARSING,
        DocumentStatus.EMBEDDING,
        DocumentStatus.FAILED,
    ],
)
def test_only_ready_documents_are_searched(
    tenant: Tenant, handbook: DocumentAndChunks, plan: Plan, status: DocumentStatus
) -> None:
    draft, draft_chunks = make_document(
        tenant, "Draft", [("Refunds", "Refunds QX7-PLUTO-19 within 30 days.")], status=status
    )
    hits = search(tenant.id, "QX7-PLUTO-19 refund", k=10, plan=plan)

    assert hits, "the ready document is still searchable"
    assert draft.id not in {h.document_id for h in hits}
    assert draft_chunks[0].id not in {h.chunk_id for h in hits}


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
def test_search_without_a_tenant_context_returns_nothing(
    tenant: Tenant, handbook: DocumentAndChunks, plan: Plan
) -> None:
    vector = embed(tenant, ["refund"])[0]
    assert connection.in_atomic_block  # the test's transaction, with no tenant set

    assert hybrid_search(tenant.id, "refund", vector, k=5, plan=plan) == []
    with tenant_context(tenant.id):
        assert hybrid_search(tenant.id, "refund", vector, k=5, plan=plan) != []


def test_both_plans_agree_and_the_threshold_picks_the_plan(
    tenant: Tenant, handbook: DocumentAndChunks, settings: Settings
) -> None:
    vector = embed(tenant, ["How long are backups kept?"])[0]
    exact = search(tenant.id, "backups", k=5, embedding=vector, plan="exact")
    hnsw = search(tenant.id, "backups", k=5, embedding=vector, plan="hnsw")
    assert [h.chunk_id for h in hnsw] == [h.chunk_id for h in exact]

    with tenant_context(tenant.id):
        assert retrieval.choose_plan(tenant.id, 5) == "exact"
        settings.RAG_EXACT_SCAN_MAX_CHUNKS = len(SECTIONS) - 1
        assert retrieval.choose_plan(tenant.id, 5) == "hnsw"


def test_the_query_is_embedded_through_the_gateway_as_rag_search(
    tenant: Tenant, owner: User, handbook: DocumentAndChunks
) -> None:
    ctx = CallContext(tenant_id=tenant.id, feature="chat", user_id=owner.id, request_id="q-1")
    search(tenant.id, "refund", ctx=ctx)

    with tenant_context(tenant.id):
        row = UsageRecord.objects.get(request_id="q-1")
    assert (row.feature, row.user_id, row.requested_model) == ("rag_search", owner.id, "embed")
    assert row.tokens_in > 0


def test_a_context_of_another_tenant_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="another tenant"):
        search(tenant.id, "refund", ctx=CallContext(tenant_id=other_tenant.id, feature="chat"))


def test_a_blank_query_is_refused_before_any_call(tenant: Tenant) -> None:
    with pytest.raises(EmptyQuery):
        search(tenant.id, "  \n ")
    with tenant_context(tenant.id):
        assert not UsageRecord.objects.filter(feature="rag_search").exists()


def test_the_async_twin_returns_the_same_hits(tenant: Tenant, handbook: DocumentAndChunks) -> None:
    sync_hits = search(tenant.id, "How many days of holiday do I get?", k=4)
    async_hits = async_to_sync(asearch)(tenant.id, "How many days of holiday do I get?", k=4)

    assert async_hits == sync_hits
    assert async_hits[0].heading == "Leave"


TRICKY = [
    ("Contacts", "Write to o'brien@example.com or see https://help.example.org/refunds now."),
    ("Quotes", 'The "full refund" rule doesn\'t apply to e-mail orders; back\\slash stays.'),
]


@pytest.mark.parametrize(
    "query",
    [
        "QX7-PLUTO-19",
        "refund 30 days",
        '"full refund"',
        "refund or hotels",
        "days -hotels",
        "doesn't apply",
        "o'brien@example.com",
        "https://help.example.org/refunds",
        "e-mail orders",
        "back\\slash",
        "the and of",
    ],
)
def test_signature_pruning_never_loses_a_full_text_match(
    tenant: Tenant, handbook: DocumentAndChunks, query: str
) -> None:
    make_document(tenant, "Tricky", TRICKY)
    vector = embed(tenant, ["unrelated"])[0]
    params = retrieval.hybrid_params(tenant.id, query, vector, 10)
    results = {}
    with tenant_context(tenant.id), connection.cursor() as cursor:
        for mode in ("signature", "scan"):
            cursor.execute(retrieval.hybrid_sql("exact", mode), params)
            results[mode] = cursor.fetchall()
    assert results["signature"] == results["scan"]
    matched = [row for row in results["scan"] if row[8] is not None]  # row[8]: text_rank
    # Only stop words match nothing; so does a full URL (websearch_to_tsquery parses it
    # into other tokens than to_tsvector does), with the signature or without.
    assert bool(matched) == (query not in {"the and of", "https://help.example.org/refunds"})


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("refund 30 days", "signature"),
        ("e-mail orders", "signature"),
        ("ordinary order", "signature"),
        ("card or bank transfer", "scan"),
        ("Card OR bank", "scan"),
        ("refund -monthly", "scan"),
        ("-monthly refund", "scan"),
    ],
)
def test_queries_with_or_or_not_skip_the_signature(text: str, mode: TextMode) -> None:
    assert retrieval.text_mode(text) == mode


@pytest.mark.parametrize("plan", ["auto", "exact", "hnsw"])
def test_every_plan_sets_ef_search_for_its_candidates(
    tenant: Tenant, handbook: DocumentAndChunks, plan: Plan
) -> None:
    vector = embed(tenant, ["refund"])[0]
    with tenant_context(tenant.id), connection.cursor() as cursor:
        hybrid_search(tenant.id, "refund", vector, k=5, plan=plan)
        cursor.execute("SELECT current_setting('hnsw.ef_search')")
        assert cursor.fetchone()[0] == "200"  # RAG_HNSW_EF_SEARCH, above 40 candidates
        hybrid_search(tenant.id, "refund", vector, k=150, plan=plan)
        cursor.execute("SELECT current_setting('hnsw.ef_search')")
        assert cursor.fetchone()[0] == "300"  # 2k = 300 candidates: the scan must reach them
