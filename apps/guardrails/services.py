"""Writes of the guardrail log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from asgiref.sync import sync_to_async

from apps.core.db import tenant_context
from apps.guardrails.engine import Direction, Hit
from apps.guardrails.models import GuardrailEvent


def events_record(
    *,
    tenant_id: uuid.UUID | str,
    hits: Sequence[Hit],
    direction: Direction,
    feature: str = "",
    request_id: str = "",
) -> int:
    """Log each hit (opens its own tenant context). Returns how many rows were written."""
    if not hits:
        return 0
    with tenant_context(tenant_id):
        GuardrailEvent.objects.bulk_create(
            GuardrailEvent(
                tenant_id=tenant_id,
                check_name=hit.check.value,
                action=hit.action.value,
                kind=hit.kind[:80],
                direction=direction.value,
                feature=feature[:40],
                request_id=request_id[:64],
                excerpt=hit.excerpt[:300],
                score=hit.score,
            )
            for hit in hits
        )
    return len(hits)


async def aevents_record(
    *,
    tenant_id: uuid.UUID | str,
    hits: Sequence[Hit],
    direction: Direction,
    feature: str = "",
    request_id: str = "",
) -> int:
    if not hits:
        return 0
    return await sync_to_async(events_record)(
        tenant_id=tenant_id, hits=hits, direction=direction, feature=feature, request_id=request_id
    )
