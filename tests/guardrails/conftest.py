"""Guardrail tests through the real gateway reuse the gateway's fixtures: the local
provider over HTTP, real Valkey and PostgreSQL."""

from tests.gateway.conftest import _local_provider, _relay_not_cooling, make_tenant
from tests.rag.conftest import media_root

__all__ = ["_local_provider", "_relay_not_cooling", "make_tenant", "media_root"]
