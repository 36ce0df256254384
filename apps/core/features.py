"""What people read for a ledger row's ``feature``: the callers name it in code
("rag_ingest"), the pages name it in words ("Document indexing"). The keys stay as they are
in the ledger, the CSV and JSON exports and the API; only the pages translate them.

The map lives here, at the bottom of the layers, because every page that lists calls
(usage, AI quality, the guardrail log, the operator console) shows it; a feature missing
from it reads as its own name with spaces ("new_thing" → "New thing")."""

from __future__ import annotations

FEATURE_LABELS: dict[str, str] = {
    "chat": "Chat answers",
    "chat_title": "Conversation titles",
    "api_chat": "API chat completions",
    "rag_ingest": "Document indexing",
    "rag_search": "Document search",
    "semantic_cache": "Cache lookups",
    "batch_summary": "Batch summaries",
}


def feature_label(feature: str) -> str:
    """``feature`` in words: its label, else its name with spaces, capitalised."""
    return FEATURE_LABELS.get(feature) or feature.replace("_", " ").strip().capitalize()
