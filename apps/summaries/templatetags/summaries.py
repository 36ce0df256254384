"""Template tags for other apps' pages: a document's summary, with links to the passages
it came from. ``rag`` sits below ``summaries`` and must not import it; its templates load
these tags by name at render time instead (``{% load summaries %}``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from apps.rag.models import Chunk
from apps.summaries.models import DocumentSummary

register = template.Library()


@register.inclusion_tag("summaries/_document_summary.html", takes_context=True)
def document_summary(context: template.Context, document: Any) -> dict[str, Any]:
    """The document's latest summary and its source passages (ordinal and id, in reading
    order), or nothing; read in the page's tenant context like the rest of the page."""
    found = (
        DocumentSummary.objects.filter(tenant_id=document.tenant_id, document_id=document.pk)
        .select_related("item__job")
        .first()
    )
    passages: list[dict[str, Any]] = []
    if found is not None and found.chunk_ids:
        passages = [
            {"id": chunk_id, "ordinal": ordinal}
            for chunk_id, ordinal in Chunk.objects.filter(
                document_id=document.pk, id__in=found.chunk_ids
            )
            .order_by("ordinal")
            .values_list("id", "ordinal")
        ]
    return {"summary": found, "passages": passages, "current_tenant": context.get("current_tenant")}


@register.filter
def usd(value: Decimal | None) -> str:
    """Dollars with the precision a batch's small costs need: cents from a dollar up,
    four places from a cent, else six ($0.000042)."""
    amount = Decimal(value or 0)
    if amount == 0:
        return "$0.00"
    places = 2 if abs(amount) >= 1 else 4 if abs(amount) >= Decimal("0.01") else 6
    return f"${amount:,.{places}f}"
