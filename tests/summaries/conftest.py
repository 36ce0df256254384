"""Documents to summarise: the RAG tests' upload and ingest helpers and fixtures."""

from tests.rag.conftest import _local_provider, media_root, ready_doc

__all__ = ["_local_provider", "media_root", "ready_doc"]
