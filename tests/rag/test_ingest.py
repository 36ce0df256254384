"""Ingestion end to end on the real stack: parse, chunk, embed through the gateway (real
MiniLM vectors from the local provider), store; idempotent, re-ingestable, failing with a
reason on bad files and provider outages while other documents stay as they were."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from celery.result import EagerResult
from django.db import connection
from django.test import override_settings
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway import api as gateway
from apps.gateway.models import AISettings, UsageRecord
from apps.gateway.router import local_deployment
from apps.gateway.types import CallContext
from apps.rag import services
from apps.rag.chunking import HEADING_SEPARATOR
from apps.rag.ingest import ingest_document
from apps.rag.models import Chunk, Document
from apps.rag.parsing import NO_TEXT
from apps.rag.tasks import PROVIDER_GAVE_UP, ingest_document_task
from apps.tenants.models import Tenant
from tests.conftest import owner_of
from tests.rag.conftest import (
    HANDBOOK_MD,
    chunks,
    fresh,
    ingest,
    make_docx,
    make_pdf,
    upload,
)

if TYPE_CHECKING:
    from tests.rag.conftest import ListedDocument


def path(*headings: str) -> str:
    return HEADING_SEPARATOR.join(headings)


def ledger(document: Document, **filters: Any) -> list[UsageRecord]:
    with tenant_context(document.tenant_id):
        return list(
            UsageRecord.objects.filter(request_id=str(document.id), **filters).order_by(
                "created_at"
            )
        )


def nearest_chunk(document: Document, query: str) -> Chunk:
    ctx = CallContext(tenant_id=document.tenant_id, feature="test")
    vector = gateway.embed_sync(ctx, [query])[0]
    from pgvector.django import CosineDistance

    with tenant_context(document.tenant_id):
        nearest = (
            Chunk.objects.filter(tenant_id=document.tenant_id, document_id=document.id)
            .order_by(CosineDistance("embedding", vector))
            .first()
        )
    assert nearest is not None
    return nearest


def run_task(document: Document, attempt: int | None = None) -> EagerResult[None]:
    return ingest_document_task.apply(
        kwargs={
            "document_id": str(document.id),
            "attempt": attempt or document.ingest_attempt,
            "tenant_id": str(document.tenant_id),
        }
    )


def test_markdown_is_chunked_by_heading_embedded_and_indexed(
    ready_doc: ListedDocument, owner: User
) -> None:
    stored = chunks(ready_doc)
    assert [c.heading for c in stored] == [
        "Employee handbook",
        path("Employee handbook", "Expenses"),
        path("Employee handbook", "Expenses", "Travel"),
        path("Employee handbook", "Holidays"),
    ]
    assert [c.ordinal for c in stored] == [0, 1, 2, 3]
    assert stored[1].content.startswith("Submit receipts within 30 days.")
    assert all(len(c.embedding) == 384 and any(c.embedding) for c in stored)
    assert ready_doc.progress == 100
    assert ready_doc.chunk_count == ready_doc.chunks_total == ready_doc.chunks_done == 4
    assert ready_doc.token_count == sum(c.token_count for c in stored) > 0
    assert ready_doc.ingested_at is not None
    assert ready_doc.error == ""
    # Vectors belong to their own passage: a question about travel finds the travel one.
    assert nearest_chunk(ready_doc, "Which class can I fly in?").heading.endswith("Travel")
    # search_vector = to_tsvector('english', heading || ' ' || content), set in SQL.
    with tenant_context(ready_doc.tenant_id), connection.cursor() as cursor:
        cursor.execute(
            "SELECT ordinal FROM rag_chunk WHERE document_id = %s AND "
            "search_vector @@ plainto_tsquery('english', %s) ORDER BY ordinal",
            [ready_doc.id, "holiday"],
        )
        assert [row[0] for row in cursor.fetchall()] == [3]  # from the heading and text
        cursor.execute(
            "SELECT count(*) FROM rag_chunk WHERE document_id = %s AND search_vector = "
            "to_tsvector('english', heading || ' ' || content)",
            [ready_doc.id],
        )
        assert cursor.fetchone()[0] == 4
    # The cost is in the ledger, as the uploader's, under feature rag_ingest.
    rows = ledger(ready_doc)
    assert len(rows) == 1  # four chunks, one batch
    assert rows[0].feature == "rag_ingest"
    assert rows[0].user_id == owner.id
    assert rows[0].status == "ok"
    assert rows[0].tokens_in > 0
    assert rows[0].cost_usd > 0


@pytest.mark.parametrize(
    ("filename", "data", "headings"),
    [
        ("notes.txt", b"Plain notes about refunds.\n\nSecond paragraph.", [""]),
        (
            "policy.html",
            b"<h1>Policy</h1><p>Refunds in 5 days.</p><h2>Scope</h2><p>All plans.</p>",
            ["Policy", path("Policy", "Scope")],
        ),
        ("billing.pdf", make_pdf("Invoices are monthly.", "Refunds take five days."), [""]),
        (
            "guide.docx",
            make_docx(("Heading 1", "Setup"), ("", "Install the app."), ("Heading 2", "Login")),
            ["Setup"],
        ),
    ],
)
def test_each_format_ends_ready_with_its_headings(
    tenant: Tenant, owner: User, filename: str, data: bytes, headings: list[str]
) -> None:
    document = ingest(upload(tenant, owner, filename, data))
    assert (document.status, document.error) == ("ready", "")
    assert [c.heading for c in chunks(document)] == headings


def test_many_chunks_are_embedded_in_batches_with_progress(
    tenant: Tenant, owner: User, settings: Settings
) -> None:
    settings.RAG_CHUNK_TOKENS, settings.RAG_CHUNK_OVERLAP, settings.RAG_EMBED_BATCH_SIZE = 30, 5, 4
    text = "\n\n".join(f"Paragraph {i} explains rule {i} of the travel policy." for i in range(30))
    document = ingest(upload(tenant, owner, "rules.md", text.encode()))
    total = document.chunks_total
    assert total > 8
    assert document.chunks_done == total
    assert len(ledger(document)) == -(-total // 4)  # one embedding call per batch of four


def test_running_twice_replaces_the_chunks_and_never_duplicates_them(
    ready_doc: ListedDocument,
) -> None:
    before = chunks(ready_doc)
    again = ingest(ready_doc)
    after = chunks(again)
    assert again.status == "ready"
    assert len(after) == len(before) == 4
    assert [c.ordinal for c in after] == [0, 1, 2, 3]
    assert {c.id for c in after}.isdisjoint({c.id for c in before})  # replaced, not kept
    assert [c.content for c in after] == [c.content for c in before]


def test_a_redelivered_task_after_success_changes_nothing(ready_doc: ListedDocument) -> None:
    before = {c.id for c in chunks(ready_doc)}
    run_task(ready_doc)  # same attempt, document already ready
    assert {c.id for c in chunks(ready_doc)} == before
    assert len(ledger(ready_doc)) == 1  # no new embedding call


def test_a_stale_task_stops_and_the_current_one_wins(
    ready_doc: ListedDocument, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with tenant_context(ready_doc.tenant_id):
        services.document_reingest(document=ready_doc, actor=owner_of(ready_doc.tenant_id))
    queued = fresh(ready_doc)
    assert (queued.status, queued.ingest_attempt) == ("queued", 2)
    assert queued.chunk_count == 4  # the old passages stay searchable meanwhile
    run_task(queued, attempt=1)  # the task of the first upload, delivered late
    assert fresh(ready_doc).status == "queued"
    assert len(ledger(ready_doc)) == 1
    run_task(queued, attempt=2)
    assert fresh(ready_doc).status == "ready"


def test_reingest_enqueues_on_commit_and_replaces_the_chunks(
    ready_doc: ListedDocument, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    old = {c.id for c in chunks(ready_doc)}
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        tenant_context(ready_doc.tenant_id),
    ):
        services.document_reingest(document=ready_doc, actor=owner_of(ready_doc.tenant_id))
    assert len(callbacks) == 1  # the ingestion task, run eagerly here
    document = fresh(ready_doc)
    assert (document.status, document.ingest_attempt, document.chunk_count) == ("ready", 2, 4)
    assert old.isdisjoint({c.id for c in chunks(document)})


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage", "could not be read as PDF"),
        ("cut.docx", make_docx(("", "Hello there"))[:400], "not a readable Word document"),
        ("scan.pdf", make_pdf(""), NO_TEXT),
        ("blank.md", b"#\n\n##   \n", NO_TEXT),
    ],
)
def test_unreadable_files_fail_with_a_reason_and_touch_nothing_else(
    ready_doc: ListedDocument, owner: User, tenant: Tenant, filename: str, data: bytes, reason: str
) -> None:
    kept = [(c.id, c.content) for c in chunks(ready_doc)]
    document = ingest(upload(tenant, owner, filename, data))
    assert document.status == "failed"
    assert reason in document.error
    assert chunks(document) == []
    assert ledger(document) == []  # nothing was embedded, nothing charged
    assert fresh(ready_doc).status == "ready"
    assert [(c.id, c.content) for c in chunks(ready_doc)] == kept


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket closes


def test_provider_down_is_retried_then_fails_with_a_reason(
    ready_doc: ListedDocument, owner: User, tenant: Tenant
) -> None:
    from config.celery import app

    kept = [c.id for c in chunks(ready_doc)]
    document = upload(tenant, owner, "later.md", b"# Later\n\nThis needs embeddings.")
    down = replace(
        local_deployment("embed", "local-embed"),
        api_base=f"http://127.0.0.1:{closed_port()}/v1",
        params={"max_retries": 0},  # fail fast: the retries under test are the task's
    )
    deployments = [local_deployment("fast", "local-fast"), local_deployment("smart", "local-smart")]
    app.conf.task_eager_propagates = False  # let the eager task retry as a worker would
    with override_settings(GATEWAY_DEPLOYMENTS=[*deployments, down], GATEWAY_NUM_RETRIES=0):
        result = run_task(document)
    assert result.state == "FAILURE"
    failed = fresh(document)
    assert ingest_document_task.max_retries is not None
    tries = ingest_document_task.max_retries + 1
    assert failed.status == "failed"
    assert failed.error == PROVIDER_GAVE_UP.format(tries=tries)
    attempts = ledger(document)
    assert len(attempts) == tries == 4  # one failed embedding call per try, each recorded
    assert {(r.feature, r.status, r.error_code) for r in attempts} == {
        ("rag_ingest", "error", "provider_unavailable")
    }
    assert all(r.cost_usd == 0 for r in attempts)
    assert fresh(ready_doc).status == "ready"
    assert [c.id for c in chunks(ready_doc)] == kept
    # Back up: re-ingesting works.
    with tenant_context(tenant.id):
        services.document_reingest(document=failed, actor=owner_of(tenant.id))
    run_task(fresh(document))
    assert fresh(document).status == "ready"


def test_a_refusal_that_retrying_cannot_fix_fails_at_once(tenant: Tenant, owner: User) -> None:
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults=dict(monthly_budget_usd=0, budget_action="block")
        )
    document = upload(tenant, owner, "budget.md", b"Some text to embed.")
    result = run_task(document)
    assert result.state == "SUCCESS"  # no retry: the task itself ended cleanly
    failed = fresh(document)
    assert failed.status == "failed"
    assert failed.error.startswith("Your organisation reached its monthly AI budget")
    assert failed.error.endswith("Then press Re-ingest.")


def test_deleted_while_queued_is_a_no_op(tenant: Tenant, owner: User) -> None:
    document = upload(tenant, owner, "gone.md", b"Short lived.")
    with tenant_context(tenant.id):
        services.document_delete(
            document=Document.objects.get(id=document.id), actor=owner_of(tenant.id)
        )
    assert run_task(document).state == "SUCCESS"
    with tenant_context(tenant.id):
        assert not Document.objects.filter(id=document.id).exists()
        assert not Chunk.objects.filter(document_id=document.id).exists()


def test_ingest_document_needs_a_tenant(ready_doc: ListedDocument) -> None:
    with pytest.raises(ValueError, match="tenant_context"):
        ingest_document(ready_doc.id)


def test_the_task_refuses_to_run_without_a_tenant_id() -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        ingest_document_task(document_id="x", attempt=1)


def test_handbook_fixture_text_is_what_was_stored(
    ready_doc: ListedDocument, media_root: Path
) -> None:
    stored = list(media_root.rglob("*.md"))
    assert len(stored) == 1
    assert stored[0].read_text() == HANDBOOK_MD
    assert stored[0].relative_to(media_root).parts[:3] == (
        "tenants",
        str(ready_doc.tenant_id),
        "documents",
    )
