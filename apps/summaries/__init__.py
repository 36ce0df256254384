"""Batch summarisation of documents through the gateway's batch API (docs/summaries.md)."""
