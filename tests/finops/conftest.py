"""Ledger rows for FinOps tests, written through the gateway's own ledger write."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user

FAST = "openai/local-fast"
SMART = "openai/local-smart"


def new_tenant(name: str) -> Tenant:
    """A tenant with a new owner (unique email: live_db tests commit their rows)."""
    owner = make_user(f"finops-{uuid.uuid4().hex[:12]}@example.com")
    return tenant_create(owner=owner, name=name)


def record(
    tenant_id: uuid.UUID,
    *,
    feature: str = "chat",
    user_id: int | None = None,
    api_key_id: uuid.UUID | None = None,
    **fields: Any,
) -> uuid.UUID:
    """One ledger row as the gateway writes it (a provider call on the fast model unless
    ``fields`` say otherwise)."""
    values: dict[str, Any] = {
        "requested_model": "fast",
        "served_model": FAST,
        "tokens_in": 100,
        "tokens_out": 50,
        "cost_usd": Decimal("0.00004500"),
        **fields,
    }
    ctx = CallContext(tenant_id=tenant_id, feature=feature, user_id=user_id, api_key_id=api_key_id)
    return record_sync(LedgerEntry(ctx=ctx, **values))
