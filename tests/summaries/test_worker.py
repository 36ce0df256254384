"""A real Celery worker runs a summary job end to end: the job commits, its submission is
enqueued on commit, the worker sends the batch to the local provider's /v1/batches, and
the poll tasks (sent here as beat would send them) collect every item once."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from apps.core.db import tenant_context
from apps.core.redis_client import sync_redis
from apps.gateway import budget
from apps.gateway.models import AISettings, UsageRecord
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


# One pool process: killing it is a worker killed mid-task, and the main process gives the
# message back (acks_late, reject_on_worker_lost) for a new pool process to run.
PREFORK_WORKER = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork"]
PREFORK_WORKER += ["--concurrency", "1", "--without-gossip", "--without-mingle"]
PREFORK_WORKER += ["--loglevel", "INFO"]


def _provider_batches(prefix: str) -> list[dict[str, Any]]:
    """The local provider's batches whose idempotency key starts with ``prefix``."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if after:
            params["after"] = after
        page = httpx.get(f"{settings.LOCAL_PROVIDER_URL}/v1/batches", params=params).json()
        found += [
            b
            for b in page["data"]
            if str((b["metadata"] or {}).get("idempotency_key", "")).startswith(prefix)
        ]
        if not page["has_more"]:
            return found
        after = page["last_id"]


def _set_fault(fault: str) -> None:
    response = httpx.post(f"{settings.LOCAL_PROVIDER_URL}/dev/batches/fault", json={"fault": fault})
    response.raise_for_status()


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def _wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_after_the_provider_accepted_the_batch_sends_it_once(
    live_db: None, artifacts_dir: Path
) -> None:
    """SIGKILL between the provider's acceptance and the job row's commit: the provider
    holds its answer to POST /v1/batches (fault ``hold``), so the batch exists while the
    worker waits; the pool process is killed right then. The redelivered task finds the
    batch by its idempotency key instead of sending a second one, and the budget holds one
    reservation, released for the real cost when the job ends."""
    from config.celery import app

    app.conf.task_always_eager = False
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"killed-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Killed {suffix}", plan="pro")
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults={"monthly_budget_usd": Decimal(5)}
        )
    log = artifacts_dir / "summaries-killed-worker.log"
    _set_fault("hold:30")
    try:
        with running(PREFORK_WORKER, env=process_env(), log=log) as worker:
            job = jobs.start_job(
                tenant,
                user_id=owner.id,
                texts=TEXTS,
                on_commit=lambda j: tasks.submit_job.delay(
                    tenant_id=str(j.tenant_id), job_id=str(j.id)
                ),
            )
            prefix = f"summaries:{job.id}:"
            _wait_for(lambda: _provider_batches(prefix), 60, "the provider to accept the batch")
            with tenant_context(tenant.id):
                held = SummaryJob.objects.get(id=job.id)
            assert (held.status, held.attempts, held.batch) == (JobStatus.QUEUED, 0, None)
            (pool,) = _pool_children(worker.pid)
            os.kill(pool, signal.SIGKILL)
            _set_fault("")
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with tenant_context(tenant.id):
                    job = SummaryJob.objects.get(id=job.id)
                if job.status in (JobStatus.DONE, JobStatus.FAILED):
                    break
                tasks.poll_running.delay()
                time.sleep(0.5)
    finally:
        _set_fault("")
    output = log.read_text()
    assert "WorkerLostError" in output or "SIGKILL" in output, output[-3000:]
    assert (job.status, job.done, job.failed, job.attempts) == (JobStatus.DONE, 4, 0, 1), output[
        -3000:
    ]
    assert [b["metadata"]["idempotency_key"] for b in _provider_batches(prefix)] == [f"{prefix}1"]
    with tenant_context(tenant.id):
        rows = list(UsageRecord.objects.filter(feature="batch_summary"))
    assert len(rows) == 4
    assert sum(r.cost_usd for r in rows) == job.cost_usd
    # Nothing is left reserved: the month's counter is exactly what the job cost.
    counter = sync_redis().get(budget._key(str(tenant.id), budget._month()))
    assert int(counter or 0) == int(job.cost_usd * budget.NANO)
