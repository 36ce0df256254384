"""Reads of summaries for other apps' pages and results."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from apps.summaries.models import DocumentSummary


def summaries_of(document_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The latest summary of each of these documents that has one. Call inside the
    tenant's context (RLS shows only its rows)."""
    rows = DocumentSummary.objects.filter(document_id__in=list(document_ids))
    return dict(rows.values_list("document_id", "text"))
