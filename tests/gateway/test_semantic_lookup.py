"""The semantic lookup's statements: a served lookup writes nothing, and the plan (exact
scan or HNSW) comes from a count of the key's entries made at most once per PLAN_TTL_S."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.db import tenant_context
from apps.gateway import semantic_cache
from apps.gateway.cache_verifier import decision
from apps.tenants.models import Tenant
from tests.gateway.conftest import MakeTenant

KEY = {"alias": "fast", "system_prompt_hash": "p" * 64}
QUESTION = "How do I export all my invoices as a single PDF file?"


@pytest.fixture(autouse=True)
def no_plans() -> Iterator[None]:
    semantic_cache.forget_plans()
    yield
    semantic_cache.forget_plans()


def vector(text: str) -> list[float]:
    return async_to_sync(semantic_cache.embed_for_evaluation)([text])[0]


def store(tenant: Tenant, question: str) -> None:
    semantic_cache.store_sync(
        tenant_id=str(tenant.id),
        **KEY,
        query=question,
        embedding=vector(question),
        response=f"answer to {question}",
        served_model="openai/local-fast",
        tokens_in=1,
        tokens_out=1,
        cost_usd=Decimal("0"),
    )


def lookup(tenant: Tenant, question: str) -> tuple[semantic_cache.SemanticHit | None, list[str]]:
    """The lookup's hit and the statements it ran."""
    embedding = vector(question)
    with CaptureQueriesContext(connection) as ran:
        hit = semantic_cache.lookup_sync(
            tenant_id=str(tenant.id),
            **KEY,
            query=question,
            embedding=embedding,
            threshold=decision.DEFAULT_FLOOR,
        )
    return hit, [q["sql"] for q in ran.captured_queries]


def counts(statements: list[str]) -> int:
    return sum("count(*)" in sql for sql in statements)


def row_version(tenant: Tenant) -> tuple[str, str]:
    with tenant_context(tenant.id), connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text, ctid::text FROM gateway_semanticcacheentry")
        [(xmin, ctid)] = cursor.fetchall()
    return str(xmin), str(ctid)


def test_a_served_lookup_writes_nothing(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    store(tenant, QUESTION)
    before = row_version(tenant)
    hit, statements = lookup(tenant, QUESTION)
    assert hit is not None
    assert hit.query == QUESTION
    assert not [sql for sql in statements if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert row_version(tenant) == before  # the entry's row was not rewritten


def test_the_key_is_counted_once_per_ttl(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, other = make_tenant(), make_tenant()
    store(tenant, QUESTION)
    clock = [1000.0]
    monkeypatch.setattr(semantic_cache, "_clock", lambda: clock[0])
    assert counts(lookup(tenant, QUESTION)[1]) == 1
    clock[0] += semantic_cache.PLAN_TTL_S - 1
    assert counts(lookup(tenant, QUESTION)[1]) == 0  # remembered
    assert counts(lookup(other, QUESTION)[1]) == 1  # another tenant's key is its own
    clock[0] += 2
    assert counts(lookup(tenant, QUESTION)[1]) == 1  # expired: counted again


@pytest.mark.parametrize(("limit", "exact"), [(1, True), (0, False)])
def test_the_count_chooses_the_plan(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch, limit: int, exact: bool
) -> None:
    """One entry: an exact scan (index scans off) under a limit of 1, HNSW over a limit of
    0; the remembered plan is reused until it expires."""
    tenant = make_tenant()
    store(tenant, QUESTION)
    monkeypatch.setattr(semantic_cache, "EXACT_SCAN_MAX", limit)
    for _ in range(2):
        hit, statements = lookup(tenant, QUESTION)
        assert hit is not None
        assert any("enable_indexscan" in sql for sql in statements) is exact


def test_a_full_memo_is_emptied(make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic_cache, "_PLANS_MAX", 2)
    tenants = [make_tenant() for _ in range(3)]
    for tenant in tenants:
        lookup(tenant, QUESTION)
    assert len(semantic_cache._plans) == 1  # the third key found two and emptied them
    assert counts(lookup(tenants[0], QUESTION)[1]) == 1
