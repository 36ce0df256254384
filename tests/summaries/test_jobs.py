"""Summary jobs through the real local provider's batch API, real PostgreSQL (RLS) and
Valkey. The steps are called as the Celery tasks call them (tasks.py is one line each)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.rag.models import Document, DocumentStatus
from apps.summaries import jobs
from apps.summaries.models import ItemStatus, JobStatus, SummaryJob
from apps.tenants.models import Tenant

TEXTS = [
    f"Report {i}: sales rose by {i} percent in March. The team hired two people." for i in range(4)
]


def run(tenant: Tenant, job: SummaryJob, fault: str = "", timeout_s: float = 20) -> SummaryJob:
    metadata = {"dev_delay_s": "0"} | ({"dev_fault": fault} if fault else {})
    tid, jid = str(tenant.id), str(job.id)
    jobs.submit(tid, jid, metadata=metadata)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = jobs.poll(tid, jid)
        if status == "queued":
            jobs.submit(tid, jid, metadata={"dev_delay_s": "0"})
        elif status in ("done", "failed", "cancelled", "skipped"):
            break
        time.sleep(0.05)
    with tenant_context(tenant.id):
        return SummaryJob.objects.get(id=job.id)


def ledger(tenant: Tenant) -> list[UsageRecord]:
    with tenant_context(tenant.id):
        return list(UsageRecord.objects.filter(feature="batch_summary"))


def test_texts_are_summarised_once_at_half_price(tenant: Tenant) -> None:
    job = jobs.start_job(tenant, texts=TEXTS)
    job = run(tenant, job)
    assert (job.status, job.done, job.failed, job.total) == (JobStatus.DONE, 4, 0, 4)
    with tenant_context(tenant.id):
        items = list(job.items.all())
    assert all(i.status == ItemStatus.DONE and i.summary.startswith("[dev model]") for i in items)
    rows = ledger(tenant)
    assert sorted(r.request_id for r in rows) == sorted(i.custom_id for i in items)
    assert sum(r.cost_usd for r in rows) == job.cost_usd
    assert job.cost_usd * 2 == pytest.approx(job.realtime_cost_usd, abs=Decimal("0.0000001"))
    # A repeated poll (a redelivered task) changes nothing and charges nothing.
    assert jobs.poll(str(tenant.id), str(job.id)) == "skipped"
    assert len(ledger(tenant)) == 4


def test_an_expired_batch_keeps_what_finished_and_resubmits_the_rest(tenant: Tenant) -> None:
    job = run(tenant, jobs.start_job(tenant, texts=TEXTS), fault="expire:1")
    assert (job.status, job.done, job.failed) == (JobStatus.DONE, 4, 0)
    assert job.attempts == 2
    assert len(ledger(tenant)) == 4


def test_a_failed_line_is_retried_and_a_rejected_batch_fails_the_job(tenant: Tenant) -> None:
    job = run(tenant, jobs.start_job(tenant, texts=TEXTS), fault="fail_line:2")
    assert (job.status, job.done, job.attempts) == (JobStatus.DONE, 4, 2)

    job = run(tenant, jobs.start_job(tenant, texts=TEXTS), fault="fail")
    assert job.status == JobStatus.FAILED
    assert "rejected the batch" in job.reason
    assert len(ledger(tenant)) == 4  # only the first job's


def test_cancel_stops_the_job_and_charges_nothing(tenant: Tenant) -> None:
    job = jobs.start_job(tenant, texts=TEXTS)
    jobs.submit(str(tenant.id), str(job.id), metadata={"dev_delay_s": "60"})
    assert jobs.cancel(str(tenant.id), str(job.id)) == JobStatus.CANCELLED
    assert jobs.poll(str(tenant.id), str(job.id)) == "skipped"
    assert ledger(tenant) == []


def test_bad_input_is_refused_before_anything_is_queued(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    with pytest.raises(jobs.JobError, match="at least one"):
        jobs.start_job(tenant, document_ids=[])
    with tenant_context(other_tenant.id):
        foreign = Document.objects.create(
            tenant=other_tenant,
            title="Theirs",
            filename="t.md",
            sha256="a" * 64,
            status=DocumentStatus.READY,
        )
    with pytest.raises(jobs.JobError, match="No such document"):
        jobs.start_job(tenant, document_ids=[str(foreign.id)])
    with tenant_context(tenant.id):
        ingesting = Document.objects.create(
            tenant=tenant,
            title="Handbook",
            filename="h.md",
            sha256="b" * 64,
            status=DocumentStatus.EMBEDDING,
        )
    with pytest.raises(jobs.JobError, match=r"not ready: Handbook \(embedding\)"):
        jobs.start_job(tenant, document_ids=[str(ingesting.id)])
    with pytest.raises(jobs.JobError, match=r"more than the free plan allows in one job \(20\)"):
        jobs.start_job(tenant, texts=["x"] * 21)
    with tenant_context(tenant.id):
        assert not SummaryJob.objects.exists()


def test_another_tenant_cannot_reach_a_job(tenant: Tenant, other_tenant: Tenant) -> None:
    job = jobs.start_job(tenant, texts=TEXTS[:1])
    # Task arguments: the other tenant's id with this job's id finds nothing.
    assert jobs.submit(str(other_tenant.id), str(job.id)) == "skipped"
    assert jobs.poll(str(other_tenant.id), str(job.id)) == "skipped"
    with pytest.raises(jobs.JobError, match="No such job"):
        jobs.cancel(str(other_tenant.id), str(job.id))
    # Raw SQL under the runtime role (the tests' connection), in the other tenant's
    # context and in none; the owner's context is the control.
    tables = ("summaries_summaryjob", "summaries_summaryitem")
    with tenant_context(tenant.id):
        assert [count(t) for t in tables] == [1, 1]
    with tenant_context(other_tenant.id):
        assert [count(t) for t in tables] == [0, 0]
        with connection.cursor() as cursor:
            cursor.execute("UPDATE summaries_summaryjob SET status = 'done'")
            assert cursor.rowcount == 0
    assert [count(t) for t in tables] == [0, 0]
    with tenant_context(tenant.id):
        assert SummaryJob.objects.get(id=job.id).status == JobStatus.QUEUED


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        row = cursor.fetchone()
        return int(row[0]) if row else 0
