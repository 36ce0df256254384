"""What a message keeps of retrieval: the passages, the check of each citation, or why
the answer did not use the organisation's documents (shown by static/js/chat.js)."""

from __future__ import annotations

from typing import Any

from apps.rag.context import REASON_NO_DOCUMENTS, REASON_NO_MATCH, Retrieved, check_citations

# Said under an answer when documents are on but did not help; when RAG is off, nothing.
_TOLD = {REASON_NO_DOCUMENTS, REASON_NO_MATCH}


def rag_record(retrieved: Retrieved, answer: str) -> dict[str, Any]:
    """The ``Message.rag`` value for an answer generated with ``retrieved``."""
    if not retrieved.passages:
        return {"notice": retrieved.notice} if retrieved.reason in _TOLD else {}
    return {
        "sources": [
            {
                "n": p.n,
                "chunk_id": str(p.chunk_id),
                "document_id": str(p.document_id),
                "title": p.title,
                "heading": p.heading,
                "url": p.url,
            }
            for p in retrieved.passages
        ],
        "citations": [
            {
                "n": c.n,
                "valid": c.valid,
                "supported": c.supported,
                "title": c.title,
                "url": c.url,
            }
            for c in check_citations(answer, retrieved.passages)
        ],
    }
