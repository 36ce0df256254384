"""Celery tasks: thin; the work and its idempotency are in apps/summaries/jobs.py.

Every task is ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-step gives
the message back, and the step's lock-and-check makes the repeat do the work once.
"""

from __future__ import annotations

from celery import shared_task

from apps.core.tasks import TenantTask
from apps.summaries import jobs
from apps.summaries.models import SummaryJob
from apps.tenants.services import notification_email


def _submit(tenant_id: str, job_id: str) -> str:
    status = jobs.submit(tenant_id, job_id)
    if status == jobs.INLINE:  # a provider without a batch API
        return jobs.run_inline(tenant_id, job_id)
    return status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_job(*, tenant_id: str, job_id: str) -> str:
    return _submit(tenant_id, job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_job(*, tenant_id: str, job_id: str) -> str:
    status = jobs.poll(tenant_id, job_id)
    if status == "queued":  # some items to resubmit
        return _submit(tenant_id, job_id)
    if status == jobs.INLINE:  # an inline run that was killed: resume it
        return jobs.run_inline(tenant_id, job_id)
    return status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_running() -> int:
    """Celery beat, every minute: one poll task per running job."""
    running = jobs.active_jobs()
    for tenant_id, job_id in running:
        poll_job.delay(tenant_id=tenant_id, job_id=job_id)
    return len(running)


@shared_task(base=TenantTask, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_job_email(*, tenant_id: str, job_id: str, notification_id: str) -> int:
    """Email the job's end to whoever started it. Returns how many got it (0 or 1)."""
    job = SummaryJob.objects.select_related("created_by").filter(id=job_id).first()
    if job is None or job.created_by is None:
        return 0
    return notification_email(
        notification_id=notification_id,
        link_name="summaries:jobs",
        link_label="Summary jobs",
        recipients=[job.created_by.email],
    )
