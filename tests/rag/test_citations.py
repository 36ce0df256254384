"""Retrieval for an answer (``retrieve_for_answer``) and the check of its citations
(``check_citations``), down to the whole loop with the local dev model."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway import api as gateway
from apps.gateway.models import UsageRecord
from apps.gateway.types import CallContext, Feature
from apps.rag.context import (
    PROMPT_INSTRUCTIONS,
    REASON_DISABLED,
    REASON_NO_DOCUMENTS,
    Passage,
    Retrieved,
    check_citations,
    retrieve_for_answer,
)
from apps.rag.models import DocumentStatus
from apps.tenants.models import Tenant
from tests.rag.test_retrieval_support import load_corpus, make_document, set_ai


def passage(n: int, content: str, title: str = "Policy", heading: str = "") -> Passage:
    return Passage(
        n=n,
        chunk_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        title=title,
        heading=heading,
        content=content,
        score=0.03,
        url=f"/t/acme/documents/x/#chunk-{n}",
    )


REFUND = passage(1, "Customers on a yearly plan can ask for a full refund within 30 days.")
BACKUP = passage(2, "Databases are backed up every hour and the backups are kept for 35 days.")
HOTEL = passage(3, "Hotels are reimbursed up to 180 euros a night in capital cities.")
PASSAGES = [REFUND, BACKUP, HOTEL]


def test_a_valid_supported_citation_points_at_its_chunk() -> None:
    [citation] = check_citations("A yearly plan can be refunded within 30 days [1].", PASSAGES)

    assert (citation.n, citation.valid, citation.supported) == (1, True, True)
    assert (citation.chunk_id, citation.document_id) == (REFUND.chunk_id, REFUND.document_id)
    assert (citation.title, citation.url) == ("Policy", REFUND.url)
    assert citation.sentence == "A yearly plan can be refunded within 30 days [1]."


@pytest.mark.parametrize("number", [0, 4, 99])
def test_a_number_outside_the_passages_is_invalid(number: int) -> None:
    [citation] = check_citations(f"Backups are kept for 35 days [{number}].", PASSAGES)

    assert (citation.n, citation.valid, citation.supported) == (number, False, False)
    assert (citation.chunk_id, citation.url) == (None, "")


def test_a_passage_retrieved_for_an_earlier_answer_is_not_valid_now() -> None:
    # The first answer had three passages; this one was given two. [3] named the hotel
    # passage before, but it is not among THIS answer's passages.
    this_answer = [passage(1, HOTEL.content), passage(2, REFUND.content)]
    citations = check_citations(
        "Hotels are paid up to 180 euros [1]. Refunds within 30 days [3].", this_answer
    )

    assert [(c.n, c.valid) for c in citations] == [(1, True), (3, False)]
    assert citations[0].chunk_id == this_answer[0].chunk_id  # [1] is this answer's passage 1


def test_a_citation_on_an_unrelated_sentence_is_valid_but_unsupported() -> None:
    [citation] = check_citations("Our head office is in Lisbon near the river [2].", PASSAGES)

    assert (citation.valid, citation.supported) == (True, False)
    assert citation.overlap == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "Backups are kept 35 days and hotels are reimbursed 180 euros a night [2][3].",
        "Backups are kept 35 days and hotels are reimbursed 180 euros a night [2, 3].",
        "Backups are kept 35 days and hotels are reimbursed 180 euros a night. [2] [3]",
    ],
)
def test_grouped_markers_are_each_checked_and_a_combined_sentence_supports_both(
    answer: str,
) -> None:
    citations = check_citations(answer, PASSAGES)

    assert [(c.n, c.valid, c.supported) for c in citations] == [(2, True, True), (3, True, True)]
    assert all(c.sentence.startswith("Backups are kept 35 days") for c in citations)


def test_every_occurrence_is_reported_in_order_and_brackets_without_numbers_are_ignored() -> None:
    answer = "[dev model] Refunds take 30 days [1]. Backups run every hour [2]. See [1] again."
    citations = check_citations(answer, PASSAGES)

    assert [c.n for c in citations] == [1, 2, 1]
    assert [c.supported for c in citations] == [True, True, False]  # "See again" says nothing


def test_prompt_block_numbers_passages_one_line_each_with_their_source() -> None:
    retrieved = Retrieved(
        passages=(
            passage(1, "First line.\n\nSecond paragraph.", title="Guide", heading="Setup"),
            passage(2, "Other text."),
        )
    )
    block = retrieved.prompt_block()

    assert block.startswith(PROMPT_INSTRUCTIONS)
    assert '[1] First line. Second paragraph.\n(Source: "Guide", Setup)' in block
    assert '[2] Other text.\n(Source: "Policy")' in block
    assert Retrieved(reason=REASON_DISABLED).prompt_block() == ""


# --- retrieve_for_answer, with the database and the gateway ------------------------------


def ctx_for(tenant: Tenant, user: User | None = None, feature: Feature = "chat") -> CallContext:
    return CallContext(
        tenant_id=tenant.id, feature=feature, user_id=user.id if user else None, request_id="m-1"
    )


def rag_search_rows(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return UsageRecord.objects.filter(feature="rag_search").count()


def test_rag_off_returns_a_reason_and_calls_no_model(tenant: Tenant) -> None:
    make_document(tenant, "Policy", [("Refunds", REFUND.content)])
    set_ai(tenant, rag_enabled=False)

    retrieved = async_to_sync(retrieve_for_answer)(ctx_for(tenant), "Can I get a refund?")

    assert (retrieved.passages, retrieved.reason) == ((), REASON_DISABLED)
    assert "off" in retrieved.notice
    assert rag_search_rows(tenant) == 0


def test_no_ready_document_returns_a_reason_and_calls_no_model(tenant: Tenant) -> None:
    make_document(tenant, "Policy", [("Refunds", REFUND.content)], status=DocumentStatus.EMBEDDING)
    set_ai(tenant, rag_enabled=True)

    retrieved = async_to_sync(retrieve_for_answer)(ctx_for(tenant), "Can I get a refund?")

    assert (retrieved.passages, retrieved.reason) == ((), REASON_NO_DOCUMENTS)
    assert "Upload" in retrieved.notice
    assert rag_search_rows(tenant) == 0


def test_passages_are_numbered_from_one_link_to_their_chunk_and_respect_top_k(
    tenant: Tenant, owner: User
) -> None:
    chunks = load_corpus(tenant)
    set_ai(tenant, rag_enabled=True, rag_top_k=3)

    retrieved = async_to_sync(retrieve_for_answer)(
        ctx_for(tenant, owner), "How many vacation days do I get per year?"
    )

    assert (retrieved.reason, retrieved.notice) == ("", "")
    assert [p.n for p in retrieved.passages] == [1, 2, 3]
    first = retrieved.passages[0]
    assert first.chunk_id == chunks[("Employee handbook", "Annual leave")].id
    assert first.url == (
        reverse("rag:document", args=[tenant.slug, first.document_id]) + f"#chunk-{first.chunk_id}"
    )
    with tenant_context(tenant.id):
        row = UsageRecord.objects.get(feature="rag_search")
    assert (row.user_id, row.request_id) == (owner.id, "m-1")


def test_the_whole_loop_with_the_dev_model_cites_valid_supported_passages(
    tenant: Tenant, owner: User
) -> None:
    load_corpus(tenant)
    set_ai(tenant, rag_enabled=True, rag_top_k=4)
    question = "What happens to my workspace when my credit card gets declined?"

    retrieved = async_to_sync(retrieve_for_answer)(ctx_for(tenant, owner), question)
    messages = [
        {
            "role": "system",
            "content": "You are a helpful assistant.\n\n" + retrieved.prompt_block(),
        },
        {"role": "user", "content": question},
    ]
    answer = gateway.complete_sync(ctx_for(tenant, owner), messages).content
    citations = check_citations(answer, retrieved.passages)

    assert answer.startswith("[dev model] According to [1], When a card payment fails")
    assert [c.n for c in citations] == [1, 2, 3]  # the dev model cites its first three
    assert all(c.valid and c.supported for c in citations)
    assert [c.chunk_id for c in citations] == [p.chunk_id for p in retrieved.passages[:3]]


def test_the_other_tenants_passages_never_come_back(tenant: Tenant, other_tenant: Tenant) -> None:
    load_corpus(tenant)
    make_document(other_tenant, "Other", [("Misc", "Our office plants are watered on Mondays.")])
    set_ai(other_tenant, rag_enabled=True, rag_top_k=5)

    retrieved = async_to_sync(retrieve_for_answer)(
        ctx_for(other_tenant), "Can I get my money back for a yearly plan?"
    )

    assert [p.title for p in retrieved.passages] == ["Other"]
    assert retrieved.passages[0].url.startswith(f"/t/{other_tenant.slug}/documents/")
