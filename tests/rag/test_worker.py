"""A real Celery worker process ingests uploaded documents from the queue: the upload
commits, the task is enqueued on commit, the worker parses, embeds through the gateway and
stores, each document ending ready or failed on its own."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.rag.services import document_create
from apps.tenants.services import tenant_create
from tests.conftest import make_user, owner_of
from tests.rag.conftest import HANDBOOK_MD, WORKER, chunks, fresh
from tests.servers import process_env, running


def test_a_real_worker_ingests_documents(
    live_db: None, artifacts_dir: Path, media_root: Path
) -> None:
    from config.celery import app

    app.conf.task_always_eager = False  # enqueue for the real worker
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"worker-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Worker Docs {suffix}")
    log = artifacts_dir / "rag-worker.log"
    actor = owner_of(tenant.id)
    with running(WORKER, env=process_env(MEDIA_ROOT=str(media_root)), log=log):
        with tenant_context(tenant.id):
            good, _ = document_create(
                tenant=tenant, actor=actor, filename="handbook.md", data=HANDBOOK_MD.encode()
            )
            bad, _ = document_create(
                tenant=tenant, actor=actor, filename="bad.pdf", data=b"%PDF-1.4 junk"
            )
        # Both tasks were enqueued when the block above committed.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if {fresh(good).status, fresh(bad).status} <= {"ready", "failed"}:
                break
            time.sleep(0.2)
    done = fresh(good)
    assert done.status == "ready", log.read_text()[-3000:]
    assert (done.chunk_count, done.progress) == (4, 100)
    assert chunks(done)[0].heading == "Employee handbook"
    failed = fresh(bad)
    assert failed.status == "failed"
    assert "could not be read as PDF" in failed.error
    with tenant_context(tenant.id):
        ledger = list(UsageRecord.objects.filter(request_id=str(good.id)))
    assert [(r.feature, r.user_id, r.status) for r in ledger] == [("rag_ingest", owner.id, "ok")]
