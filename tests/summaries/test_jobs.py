"""Summary jobs through the real local provider's batch API, real PostgreSQL (RLS) and
Valkey. The steps are called as the Celery tasks call them (tasks.py is one line each)."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.gateway.router import Deployment
from apps.rag.models import Document, DocumentStatus
from apps.summaries import jobs
from apps.summaries.models import DocumentSummary, ItemStatus, JobStatus, SummaryJob
from apps.summaries.results import page
from apps.tenants.models import Tenant
from tests.gateway.conftest import deployments
from tests.rag.conftest import chunks, ingest, upload

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


LONG_MD = "# Operations manual\n\n" + "\n\n".join(
    f"## Section {n}\n\n"
    + " ".join(
        f"Rule {n}.{k}: the team on shift {k} checks gauge {n * 10 + k} every {k + 1} hours."
        for k in range(8)
    )
    for n in range(1, 7)
)


def small_window() -> list[Deployment]:
    """The cheap model said to take 800 input tokens: a few sections fill a request."""
    return [
        dataclasses.replace(d, max_input_tokens=800) if d.alias == "fast" else d
        for d in deployments()
    ]


def test_a_document_longer_than_the_window_is_map_reduced(tenant: Tenant, owner: User) -> None:
    with override_settings(GATEWAY_DEPLOYMENTS=small_window()):
        assert jobs.source_budget() == 256
        document = ingest(upload(tenant, owner, "manual.md", LONG_MD.encode()))
        passages = [str(c.id) for c in chunks(document)]
        job = jobs.start_job(tenant, document_ids=[str(document.id)])
        with tenant_context(tenant.id):
            items = list(job.items.order_by("ordinal"))
        combine, parts = items[0], items[1:]
        assert (combine.kind, combine.status, combine.ordinal) == ("combine", "waiting", 0)
        assert len(parts) >= 2
        assert all(p.kind == "map" and p.parent_id == combine.id for p in parts)
        assert [c for p in parts for c in p.chunk_ids] == passages  # every passage, once
        assert all(
            sum(c.token_count for c in chunks(document) if str(c.id) in p.chunk_ids) <= 256
            or len(p.chunk_ids) == 1
            for p in parts
        )
        job = run(tenant, job)
    # One batch of parts, then one of the combine step.
    assert (job.status, job.total, job.done, job.failed, job.attempts) == ("done", 1, 1, 0, 2)
    with tenant_context(tenant.id):
        combine = job.items.get(kind="combine")
        summary = DocumentSummary.objects.get(document_id=document.id)
    assert combine.status == ItemStatus.DONE
    assert combine.source_text.startswith(f"Part 1 of {len(parts)}:\n[dev model]")
    assert (summary.item_id, summary.text) == (combine.id, combine.summary)
    assert summary.chunk_ids == passages  # the summary links to every passage it came from
    rows = ledger(tenant)
    assert len(rows) == len(parts) + 1  # one row per request, parts included
    assert sum(r.cost_usd for r in rows) == job.cost_usd
    # The results list the document once: its combined summary.
    assert [(r["ordinal"], r["summary"]) for r in page(str(tenant.id), str(job.id), -1)] == [
        (0, combine.summary)
    ]


def test_a_part_that_fails_for_good_fails_its_document(tenant: Tenant, owner: User) -> None:
    with override_settings(GATEWAY_DEPLOYMENTS=small_window()):
        document = ingest(upload(tenant, owner, "manual.md", LONG_MD.encode()))
        job = jobs.start_job(tenant, document_ids=[str(document.id)])
        tid, jid = str(tenant.id), str(job.id)
        for _ in range(jobs.MAX_ATTEMPTS):  # the first part fails on every attempt
            jobs.submit(tid, jid, metadata={"dev_delay_s": "0", "dev_fault": "fail_line:1"})
            while (status := jobs.poll(tid, jid)) == JobStatus.SUBMITTED:
                time.sleep(0.05)
    assert status == JobStatus.FAILED
    with tenant_context(tenant.id):
        job = SummaryJob.objects.get(id=job.id)
        combine = job.items.get(kind="combine")
        assert not DocumentSummary.objects.filter(document_id=document.id).exists()
    assert (job.done, job.failed, job.reason) == (0, 1, "1 of 1 could not be summarised.")
    assert combine.status == ItemStatus.FAILED
    # The parts that were answered were charged; nothing else.
    with tenant_context(tenant.id):
        answered = job.items.filter(kind="map", status=ItemStatus.DONE).count()
    assert answered >= 1
    assert len(ledger(tenant)) == answered
