"""Tenant B reaches none of tenant A's documents, chunks or files: not through raw SQL
under RLS, not through a vector search, not through a task, not through storage."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway import api as gateway
from apps.gateway.types import CallContext
from apps.rag import storage
from apps.rag.ingest import ingest_document
from apps.rag.models import Chunk, Document
from apps.tenants.models import Tenant
from tests.rag.conftest import chunks, fresh, ingest, upload

if TYPE_CHECKING:
    from tests.rag.conftest import ListedDocument


def rows(sql: str, params: list[str | uuid.UUID]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def test_rls_under_tenant_b_returns_none_of_a_s_rows(
    ready_doc: ListedDocument, outsider: User, other_tenant: Tenant
) -> None:
    theirs = ingest(upload(other_tenant, outsider, "theirs.md", b"# Theirs\n\nHoliday rules."))
    a_chunk_ids = {str(c.id) for c in chunks(ready_doc)}
    vector = gateway.embed_sync(
        CallContext(tenant_id=other_tenant.id, feature="test"), ["paid holiday days"]
    )[0]
    with tenant_context(other_tenant.id):
        assert rows("SELECT count(*) FROM rag_chunk WHERE document_id = %s", [ready_doc.id]) == [
            (0,)
        ]
        assert rows("SELECT id FROM rag_document WHERE id = %s", [ready_doc.id]) == []
        # The nearest neighbours of a question A's handbook answers best: only B's chunk.
        found = rows(
            "SELECT id::text, tenant_id::text FROM rag_chunk ORDER BY embedding <=> %s::vector "
            "LIMIT 10",
            [str(vector)],
        )
        assert found == [(str(chunks(theirs)[0].id), str(other_tenant.id))]
        assert not a_chunk_ids & {row[0] for row in found}
        text_hits = rows(
            "SELECT id::text FROM rag_chunk WHERE search_vector @@ plainto_tsquery('english', "
            "'receipts')",
            [],
        )
        assert text_hits == []
        # Writes cannot reach A's rows either.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE rag_chunk SET content = 'x' WHERE document_id = %s", [ready_doc.id]
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM rag_document WHERE id = %s", [ready_doc.id])
            assert cursor.rowcount == 0
    # With no tenant set at all, nothing is visible (fail closed).
    assert rows("SELECT count(*) FROM rag_chunk", []) == [(0,)]
    assert len(chunks(ready_doc)) == 4


def test_a_chunk_cannot_be_written_into_another_tenant(
    ready_doc: ListedDocument, other_tenant: Tenant
) -> None:
    from django.db.utils import ProgrammingError

    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        tenant_context(other_tenant.id),
    ):
        Chunk.objects.create(
            tenant_id=ready_doc.tenant_id,
            document_id=ready_doc.id,
            ordinal=99,
            content="injected",
            embedding=[0.1] * 384,
        )
    assert len(chunks(ready_doc)) == 4


def test_a_task_for_the_wrong_tenant_does_nothing(
    ready_doc: ListedDocument, other_tenant: Tenant
) -> None:
    ingest_document(ready_doc.id, tenant_id=other_tenant.id)  # A's id, B's context
    assert fresh(ready_doc).status == "ready"
    with tenant_context(other_tenant.id):
        assert Document.objects.count() == 0


def test_storage_refuses_a_path_outside_the_tenant_prefix(
    ready_doc: ListedDocument, other_tenant: Tenant
) -> None:
    assert storage.read(ready_doc.file.name, tenant_id=ready_doc.tenant_id)
    with pytest.raises(PermissionError):
        storage.read(ready_doc.file.name, tenant_id=other_tenant.id)
    escape = f"tenants/{other_tenant.id}/../{ready_doc.tenant_id}/x"
    with pytest.raises(PermissionError):
        storage.read(escape, tenant_id=other_tenant.id)
