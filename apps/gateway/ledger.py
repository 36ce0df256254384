"""Step 7: the usage ledger. One UsageRecord per provider call or cache hit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.db.models import Q

from apps.core.db import tenant_context
from apps.gateway.models import CallStatus, SemanticCacheHit, UsageOutbox, UsageRecord
from apps.gateway.semantic_cache import SemanticHit
from apps.gateway.types import CallContext


@dataclass
class LedgerEntry:
    ctx: CallContext
    requested_model: str
    served_model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    cache: str = ""
    saved_cost_usd: Decimal = Decimal(0)
    status: str = CallStatus.OK
    error_code: str = ""
    latency_ms: int = 0
    ttft_ms: int | None = None
    # A semantic-cache hit: which entry answered which question (kept for reports).
    semantic_hit: SemanticHit | None = None


# billable_tokens' rule for queries over ledger rows (billing's usage figures).
BILLABLE_ROWS = Q(cache="") & ~Q(status=CallStatus.ERROR)


def billable_tokens(entry: LedgerEntry) -> int:
    """Tokens the tenant is billed for: what a provider processed for it. Cache hits
    (served without a provider) and refusals bill nothing; an aborted or cut stream
    bills the tokens it really used."""
    if entry.cache or entry.status == CallStatus.ERROR:
        return 0
    return entry.tokens_in + entry.tokens_out


def record_sync(entry: LedgerEntry) -> uuid.UUID:
    """The ledger row, and in the same transaction its outbox entry when it is billable."""
    ctx = entry.ctx
    with tenant_context(ctx.tenant_id):
        row = UsageRecord.objects.create(
            tenant_id=ctx.tenant_id,
            user_id=ctx.user_id,
            api_key_id=ctx.api_key_id,
            feature=ctx.feature,
            request_id=ctx.request_id,
            requested_model=entry.requested_model,
            served_model=entry.served_model,
            tokens_in=entry.tokens_in,
            tokens_out=entry.tokens_out,
            cost_usd=entry.cost_usd,
            cache=entry.cache,
            saved_cost_usd=entry.saved_cost_usd,
            status=entry.status,
            error_code=entry.error_code,
            latency_ms=entry.latency_ms,
            ttft_ms=entry.ttft_ms,
        )
        hit = entry.semantic_hit
        if hit is not None:
            SemanticCacheHit.objects.create(
                tenant_id=ctx.tenant_id,
                usage_record=row,
                entry_id=hit.entry_id,
                cached_query=hit.query,
                query=hit.question,
                similarity=hit.similarity,
            )
        tokens = billable_tokens(entry)
        if tokens:
            UsageOutbox.objects.create(tenant_id=ctx.tenant_id, usage_record=row, tokens=tokens)
    return row.id


async def record(entry: LedgerEntry) -> uuid.UUID:
    return await sync_to_async(record_sync)(entry)
