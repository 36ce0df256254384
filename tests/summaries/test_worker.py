"""A real Celery worker runs a summary job end to end: the job commits, its submission is
enqueued on commit, the worker sends the batch to the local provider's /v1/batches, and
the poll tasks (sent here as beat would send them) collect every item once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.summaries import jobs, tasks
from apps.summaries.models import JobStatus, SummaryJob
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.rag.conftest import WORKER
from tests.servers import process_env, running
from tests.summaries.test_jobs import TEXTS


def test_a_real_worker_runs_a_job_once(live_db: None, artifacts_dir: Path) -> None:
    from config.celery import app

    app.conf.task_always_eager = False  # enqueue for the real worker
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"summaries-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Summaries {suffix}", plan="pro")
    log = artifacts_dir / "summaries-worker.log"
    with running(WORKER, env=process_env(), log=log):
        job = jobs.start_job(
            tenant,
            user_id=owner.id,
            texts=TEXTS,
            on_commit=lambda j: tasks.submit_job.delay(
                tenant_id=str(j.tenant_id), job_id=str(j.id)
            ),
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with tenant_context(tenant.id):
                job = SummaryJob.objects.get(id=job.id)
            if job.status in (JobStatus.DONE, JobStatus.FAILED):
                break
            tasks.poll_running.delay()
            time.sleep(0.5)
    assert (job.status, job.done, job.failed) == (JobStatus.DONE, 4, 0), log.read_text()[-3000:]
    with tenant_context(tenant.id):
        rows = list(UsageRecord.objects.filter(feature="batch_summary"))
    assert len(rows) == 4
    assert {r.user_id for r in rows} == {owner.id}
    assert sum(r.cost_usd for r in rows) == job.cost_usd
