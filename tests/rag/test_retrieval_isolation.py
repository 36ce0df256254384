"""Tenant isolation of retrieval: B never retrieves A's chunks, even with identical text,
with either plan, through a statement prepared under A, or with A's id as the parameter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Literal

import psycopg
import pytest
from django.db import connection
from psycopg.rows import TupleRow

from apps.core.db import tenant_context
from apps.rag import retrieval
from apps.rag.retrieval import search
from apps.tenants.models import Tenant
from tests.rag.test_retrieval_support import embed, make_document

SECTIONS = [
    ("Refunds", "Customers on a yearly plan can ask for a full refund within 30 days."),
    ("Error codes", "Error QX7-PLUTO-19 means the upload is larger than the storage quota."),
    ("Backups", "Databases are backed up every hour and kept for 35 days."),
]

# The ids of A's chunks and of B's, from the ``twins`` fixture.
Twins = tuple[set[uuid.UUID], set[uuid.UUID]]


@pytest.fixture
def twins(tenant: Tenant, other_tenant: Tenant) -> Twins:
    """The same document, word for word, in both tenants."""
    _, a_chunks = make_document(tenant, "Policies", SECTIONS)
    _, b_chunks = make_document(other_tenant, "Policies", SECTIONS)
    return {c.id for c in a_chunks}, {c.id for c in b_chunks}


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
def test_identical_text_is_retrieved_only_from_the_searching_tenant(
    tenant: Tenant, other_tenant: Tenant, twins: Twins, plan: Literal["exact", "hnsw"]
) -> None:
    a_ids, b_ids = twins
    for query in ("QX7-PLUTO-19", "Can I get my money back?"):
        b_hits = {h.chunk_id for h in search(other_tenant.id, query, k=10, plan=plan)}
        a_hits = {h.chunk_id for h in search(tenant.id, query, k=10, plan=plan)}
        assert b_hits == b_ids  # all of B's chunks (k > 3), none of A's
        assert a_hits == a_ids


def test_the_tenant_parameter_cannot_reach_past_the_context(
    tenant: Tenant, other_tenant: Tenant, twins: Twins
) -> None:
    a_ids, _ = twins
    vector = embed(tenant, ["refund"])[0]
    with tenant_context(other_tenant.id):
        # B's transaction asking for A's rows: RLS and the predicate disagree, nothing.
        assert retrieval.hybrid_search(tenant.id, "refund", vector, k=10, plan="exact") == []
        assert retrieval.hybrid_search(tenant.id, "refund", vector, k=10, plan="hnsw") == []
    with tenant_context(tenant.id):
        hits = retrieval.hybrid_search(tenant.id, "refund", vector, k=10, plan="hnsw")
    assert {h.chunk_id for h in hits} == a_ids


@pytest.fixture
def raw_connection() -> Iterator[psycopg.Connection[TupleRow]]:
    """Django's psycopg connection with prepared statements allowed (Django disables them:
    prepare_threshold None), restored afterwards."""
    connection.ensure_connection()
    raw = connection.connection
    saved = raw.prepare_threshold
    raw.prepare_threshold = 5
    yield raw
    raw.prepare_threshold = saved


def _run_prepared(
    raw: psycopg.Connection[TupleRow], sql: str, params: dict[str, Any]
) -> list[TupleRow]:
    # A server-side-binding cursor (Django's default binds on the client): the statement
    # is parsed and planned once, by name, and reused for every execution.
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
def test_a_statement_prepared_under_a_returns_only_b_rows_under_b(
    tenant: Tenant,
    other_tenant: Tenant,
    twins: Twins,
    plan: Literal["exact", "hnsw"],
    raw_connection: psycopg.Connection[TupleRow],
) -> None:
    a_ids, b_ids = twins
    vector = embed(tenant, ["How long are backups kept?"])[0]
    sql = retrieval.hybrid_sql(plan)
    raw = raw_connection
    with connection.cursor() as cursor:
        # Make PostgreSQL reuse one generic plan, whatever the parameters: the case where a
        # plan cached for A could leak to B.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    as_a = retrieval.hybrid_params(tenant.id, "backups", vector, 10)
    as_b = retrieval.hybrid_params(other_tenant.id, "backups", vector, 10)
    with tenant_context(tenant.id):
        for _ in range(6):
            rows = _run_prepared(raw, sql, as_a)
        assert {r[0] for r in rows} == a_ids
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE generic_plans > 0")
        assert cursor.fetchone()[0] == 1  # one statement, run on its generic plan

    with tenant_context(other_tenant.id):
        b_rows = _run_prepared(raw, sql, as_b)
        a_rows_under_b = _run_prepared(raw, sql, as_a)
    assert {r[0] for r in b_rows} == b_ids  # B's rows, all found: the cached plan loses none
    assert a_rows_under_b == []  # A's id under B's context: nothing
    assert _run_prepared(raw, sql, as_a) == []  # and no context at all: nothing
