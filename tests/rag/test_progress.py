"""Progress is committed step by step: another database connection sees the document go
queued → parsing → embedding x/y → ready while the ingestion is still running."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
from django.db import connections
from pytest_django import Settings

from apps.core.db import tenant_context
from apps.rag.services import document_create
from apps.tenants.services import tenant_create
from tests.conftest import make_user, owner_of
from tests.servers import runtime_database_url

ORDER = {"queued": 0, "parsing": 1, "embedding": 2, "ready": 3}


def watch(tenant_id: str, seen: list[tuple[str, int, int]], stop: threading.Event) -> None:
    """Poll the tenant's document from a connection of its own (as the web process would)."""
    with psycopg.connect(runtime_database_url(), autocommit=True) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", [tenant_id])
        while not stop.is_set():
            row = conn.execute(
                "SELECT status, chunks_done, chunks_total FROM rag_document"
            ).fetchone()
            if row is not None and (not seen or seen[-1] != row):
                seen.append(row)
            time.sleep(0.002)


def test_progress_is_visible_from_another_connection_during_ingestion(
    live_db: None, settings: Settings
) -> None:
    settings.RAG_CHUNK_TOKENS, settings.RAG_CHUNK_OVERLAP, settings.RAG_EMBED_BATCH_SIZE = 40, 5, 20
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"progress-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Progress {suffix}", plan="pro")
    text = "\n\n".join(
        f"## Rule {i}\n\nRule {i} says that expense {i} needs a receipt and an approval "
        f"from a manager before the end of month {i % 12 + 1}. Late claims wait a month."
        for i in range(150)
    )
    seen: list[tuple[str, int, int]] = []
    stop = threading.Event()

    def upload_and_ingest() -> None:
        # Like a web request: the upload commits, then on_commit runs the (eager) task right
        # here; each of its steps commits on its own while the watcher reads. (A thread of
        # its own, as a worker: it also keeps clear of the browser tests' event loop.)
        try:
            with tenant_context(tenant.id):
                document_create(
                    tenant=tenant,
                    actor=owner_of(tenant.id),
                    filename="rules.md",
                    data=text.encode(),
                )
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch, args=(str(tenant.id), seen, stop))
    watcher.start()
    try:
        uploader = threading.Thread(target=upload_and_ingest)
        uploader.start()
        uploader.join()
        time.sleep(0.05)
    finally:
        stop.set()
        watcher.join()

    statuses = [status for status, _, _ in seen]
    total = seen[-1][2]
    assert seen[-1] == ("ready", total, total)
    assert total >= 150  # one section per rule at least
    assert "parsing" in statuses
    embedding = [done for status, done, _ in seen if status == "embedding"]
    assert any(0 < done < total for done in embedding), seen
    assert embedding == sorted(embedding)  # progress only moves forward
    assert [ORDER[s] for s in statuses] == sorted(ORDER[s] for s in statuses)
    assert len(embedding) >= 4  # several batches were seen one by one
