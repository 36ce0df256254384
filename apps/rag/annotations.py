"""What apps above ``rag`` add to its search results, without ``rag`` importing them.

An app registers a function in its ``AppConfig.ready``; search results then carry, per
document, what it returns (``summaries`` registers each document's latest summary). The
function runs inside the caller's tenant context and answers for many documents at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

DocumentSummaries = Callable[[Iterable[UUID]], dict[UUID, str]]

_summaries: list[DocumentSummaries] = []


def register_document_summaries(function: DocumentSummaries) -> None:
    if function not in _summaries:
        _summaries.append(function)


def document_summaries(document_ids: Iterable[UUID]) -> dict[UUID, str]:
    """Each document's summary, from whichever app provides them ({} when none does)."""
    ids = list(dict.fromkeys(document_ids))
    found: dict[UUID, str] = {}
    for function in _summaries:
        found.update(function(ids))
    return found
