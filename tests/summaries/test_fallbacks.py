"""The two fallbacks: a provider without a batch API (ordinary calls on the cheap alias,
charged at the real-time price) and a poller whose Redis list of running jobs is lost."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.test import override_settings

from apps.core.db import setting_context, tenant_context
from apps.core.redis_client import sync_redis
from apps.gateway import api as gateway
from apps.gateway.models import UsageRecord
from apps.gateway.router import Deployment
from apps.summaries import jobs, tasks
from apps.summaries.models import ItemStatus, JobStatus, SummaryJob
from apps.tenants.models import Tenant
from tests.gateway.conftest import deployments
from tests.summaries.test_jobs import TEXTS


def no_batch_api() -> list[Deployment]:
    """The local provider behind LiteLLM's vLLM adapter: the same chat completions over
    HTTP, but not an ``openai/`` deployment, so no Files and Batches API is used."""
    return [
        dataclasses.replace(d, model=d.model.replace("openai/", "hosted_vllm/", 1))
        if d.alias in ("fast", "smart")
        else d
        for d in deployments()
    ]


def test_a_provider_without_a_batch_api_gets_ordinary_calls_at_the_real_time_price(
    tenant: Tenant,
) -> None:
    with override_settings(GATEWAY_DEPLOYMENTS=no_batch_api()):
        assert not gateway.supports_batches()
        job = jobs.start_job(tenant, texts=TEXTS)
        # The task as the worker runs it: submit marks the job inline, then the groups run.
        status = tasks.submit_job(tenant_id=str(tenant.id), job_id=str(job.id))
    assert status == JobStatus.DONE
    with tenant_context(tenant.id):
        job = SummaryJob.objects.get(id=job.id)
        items = list(job.items.all())
        rows = list(UsageRecord.objects.filter(feature="batch_summary"))
    assert (job.status, job.done, job.failed, job.attempts, job.batch) == ("done", 4, 0, 1, None)
    assert all(i.status == ItemStatus.DONE and i.summary.startswith("[dev model]") for i in items)
    # One ledger row per item, written by the ordinary pipeline, keyed by the item.
    assert sorted(r.request_id for r in rows) == sorted(i.custom_id for i in items)
    assert all(r.served_model.startswith("hosted_vllm/") for r in rows)
    assert sum(r.cost_usd for r in rows) == job.cost_usd
    assert job.realtime_cost_usd == job.cost_usd  # no batch price, no saving
    # A repeat (a redelivered task) does nothing more.
    assert jobs.run_inline(str(tenant.id), str(job.id)) == JobStatus.DONE
    with tenant_context(tenant.id):
        assert UsageRecord.objects.filter(feature="batch_summary").count() == 4


def test_an_inline_run_killed_mid_way_is_resumed_by_the_poll(tenant: Tenant) -> None:
    with override_settings(GATEWAY_DEPLOYMENTS=no_batch_api()):
        job = jobs.start_job(tenant, texts=TEXTS)
        assert jobs.submit(str(tenant.id), str(job.id)) == jobs.INLINE
        # The worker died here: the job says inline, nothing answered. The poll resumes.
        assert tasks.poll_job(tenant_id=str(tenant.id), job_id=str(job.id)) == JobStatus.DONE
    with tenant_context(tenant.id):
        assert SummaryJob.objects.get(id=job.id).done == 4


def test_an_inline_job_cancelled_between_groups_stops(tenant: Tenant) -> None:
    with override_settings(GATEWAY_DEPLOYMENTS=no_batch_api()):
        job = jobs.start_job(tenant, texts=TEXTS)
        assert jobs.submit(str(tenant.id), str(job.id)) == jobs.INLINE
        assert jobs.cancel(str(tenant.id), str(job.id)) == JobStatus.CANCELLED
        # The run (a task already on its way) finds the job cancelled and calls nothing.
        assert jobs.run_inline(str(tenant.id), str(job.id)) == JobStatus.CANCELLED
    with tenant_context(tenant.id):
        assert not UsageRecord.objects.filter(feature="batch_summary").exists()
        assert SummaryJob.objects.get(id=job.id).batch is None


def test_the_poller_rebuilds_a_lost_list_from_the_database(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    ours = jobs.start_job(tenant, texts=TEXTS[:1])
    theirs = jobs.start_job(other_tenant, texts=TEXTS[:1])
    ended = jobs.start_job(tenant, texts=TEXTS[:1])
    jobs.cancel(str(tenant.id), str(ended.id))
    sync_redis().delete(jobs.ACTIVE_KEY)  # Valkey restarted without its data

    running = jobs.active_jobs()
    assert (str(tenant.id), str(ours.id)) in running
    assert (str(other_tenant.id), str(theirs.id)) in running
    assert (str(tenant.id), str(ended.id)) not in running
    members = {m.decode() for m in sync_redis().smembers(jobs.ACTIVE_KEY)}
    assert {jobs.SENTINEL, f"{tenant.id}:{ours.id}", f"{other_tenant.id}:{theirs.id}"} <= members
    # The set is whole again (it has its sentinel): the next poll reads it, not the table.
    sync_redis().srem(jobs.ACTIVE_KEY, f"{tenant.id}:{ours.id}")
    assert (str(tenant.id), str(ours.id)) not in jobs.active_jobs()


def test_the_pollers_policy_reads_ids_and_writes_nothing(tenant: Tenant) -> None:
    job = jobs.start_job(tenant, texts=TEXTS[:1])
    assert (str(tenant.id), str(job.id)) in jobs.unfinished_jobs()
    with setting_context({"app.platform_job": jobs.PLATFORM_JOB}), connection.cursor() as cursor:
        cursor.execute("UPDATE summaries_summaryjob SET status = 'done'")
        assert cursor.rowcount == 0
        cursor.execute("SELECT count(*) FROM summaries_summaryitem")
        assert cursor.fetchone() == (0,)
    with setting_context({"app.platform_job": "meter_drain"}), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM summaries_summaryjob")
        assert cursor.fetchone() == (0,)
    with tenant_context(tenant.id):
        assert SummaryJob.objects.get(id=job.id).status == JobStatus.QUEUED


@pytest.fixture(autouse=True)
def _clean_active_set() -> None:
    sync_redis().delete(jobs.ACTIVE_KEY)
