"""Template tags for other apps' pages: a document's summary, with links to the passages
it came from. ``rag`` sits below ``summaries`` and must not import it; its templates load
these tags by name at render time instead (``{% load summaries %}``)."""

from __future__ import annotations

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
