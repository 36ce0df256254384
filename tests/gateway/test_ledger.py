"""The ledger's write (apps/gateway/ledger.py): outside a transaction, a row with its
semantic hit and its outbox entry in one statement, visible to its tenant only, with no
tenant setting left on the connection; inside one, through tenant_context."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.db import current_tenant_id, tenant_context
from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.models import CacheKind, SemanticCacheHit, UsageOutbox, UsageRecord
from apps.gateway.semantic_cache import SemanticHit
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user, owner_of

FIELDS = (
    "tenant_id",
    "user_id",
    "api_key_id",
    "feature",
    "request_id",
    "requested_model",
    "served_model",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "cache",
    "saved_cost_usd",
    "status",
    "error_code",
    "latency_ms",
    "ttft_ms",
)


def new_tenant(name: str) -> Tenant:
    """A committed tenant (live_db) with a new owner."""
    owner = make_user(f"ledger-{uuid.uuid4().hex[:12]}@example.com")
    return tenant_create(owner=owner, name=name)


def entry(tenant: Tenant, **fields: Any) -> LedgerEntry:
    ctx = CallContext(
        tenant_id=tenant.id, user_id=owner_of(tenant.id).user_id, feature="chat", request_id="req-1"
    )
    values: dict[str, Any] = {
        "requested_model": "fast",
        "served_model": "openai/local-fast",
        "tokens_in": 12,
        "tokens_out": 30,
        "cost_usd": Decimal("0.00001980"),
        "latency_ms": 41,
        "ttft_ms": 9,
        **fields,
    }
    return LedgerEntry(ctx=ctx, **values)


def described(row: UsageRecord) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


@pytest.mark.usefixtures("live_db")
def test_outside_a_transaction_a_billable_row_and_its_outbox_take_one_statement() -> None:
    tenant = new_tenant("Ledger One")
    billable = entry(tenant)
    with CaptureQueriesContext(connection) as queries:
        row_id = record_sync(billable)
    assert len(queries) == 1
    # The tenant setting ended with the statement's own transaction.
    assert current_tenant_id() is None
    with tenant_context(tenant.id):
        row = UsageRecord.objects.get(id=row_id)
        outbox = UsageOutbox.objects.get(usage_record_id=row_id)
    assert described(row) == described(
        UsageRecord(tenant_id=tenant.id, user_id=owner_of(tenant.id).user_id, **_expected())
    )
    assert (outbox.tenant_id, outbox.tokens) == (tenant.id, 42)
    assert row.created_at is not None


def _expected() -> dict[str, Any]:
    return {
        "api_key_id": None,
        "feature": "chat",
        "request_id": "req-1",
        "requested_model": "fast",
        "served_model": "openai/local-fast",
        "tokens_in": 12,
        "tokens_out": 30,
        "cost_usd": Decimal("0.00001980"),
        "cache": "",
        "saved_cost_usd": Decimal(0),
        "status": "ok",
        "error_code": "",
        "latency_ms": 41,
        "ttft_ms": 9,
    }


def semantic_hit_entry(tenant: Tenant) -> LedgerEntry:
    """A semantic-cache hit's entry: nothing billed, the cost it saved, which entry."""
    cached = entry(tenant, cache=CacheKind.SEMANTIC, saved_cost_usd=Decimal("0.0000198"))
    cached.semantic_hit = SemanticHit(
        entry_id=uuid.uuid4(),
        question="How do refunds work?",
        query="How does a refund work?",
        response="…",
        served_model="openai/local-fast",
        tokens_in=12,
        tokens_out=30,
        cost_usd=Decimal("0.00001980"),
        similarity=0.93,
        score=0.9,
    )
    return cached


@pytest.mark.usefixtures("live_db")
def test_a_semantic_hit_is_written_with_its_row_and_bills_nothing() -> None:
    tenant = new_tenant("Ledger Hit")
    cached = semantic_hit_entry(tenant)
    hit = cached.semantic_hit
    assert hit is not None
    with CaptureQueriesContext(connection) as queries:
        row_id = record_sync(cached)
    assert len(queries) == 1
    with tenant_context(tenant.id):
        saved = SemanticCacheHit.objects.get(usage_record_id=row_id)
        assert not UsageOutbox.objects.filter(usage_record_id=row_id).exists()
    assert (saved.tenant_id, saved.entry_id, saved.query, saved.cached_query) == (
        tenant.id,
        hit.entry_id,
        hit.question,
        hit.query,
    )
    assert saved.similarity == pytest.approx(0.93)


@pytest.mark.usefixtures("live_db")
def test_rows_written_in_one_statement_are_invisible_to_another_tenant() -> None:
    tenant, outsider = new_tenant("Ledger Mine"), new_tenant("Ledger Theirs")
    row_id = record_sync(entry(tenant))
    with tenant_context(outsider.id):
        assert not UsageRecord.objects.filter(id=row_id).exists()
        assert not UsageOutbox.objects.filter(usage_record_id=row_id).exists()
    # No tenant set: no rows (fail closed).
    with transaction.atomic():
        assert not UsageRecord.objects.filter(id=row_id).exists()


@pytest.mark.usefixtures("live_db")
def test_inside_a_transaction_the_same_rows_are_written_through_tenant_context() -> None:
    tenant = new_tenant("Ledger Nested")
    one_statement = record_sync(entry(tenant))
    with transaction.atomic():
        nested = record_sync(entry(tenant))
        # The caller's transaction keeps no tenant setting after the write.
        assert current_tenant_id() is None
    with tenant_context(tenant.id):
        first, second = (UsageRecord.objects.get(id=i) for i in (one_statement, nested))
        outboxes = UsageOutbox.objects.filter(usage_record_id__in=[one_statement, nested])
        assert sorted(o.tokens for o in outboxes) == [42, 42]
    assert described(first) == described(second)
