"""Celery tasks: thin; the work and its idempotency are in apps/summaries/jobs.py.

Every task is ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-step gives
the message back, and the step's lock-and-check makes the repeat do the work once.
"""

from __future__ import annotations

from celery import shared_task

from apps.summaries import jobs


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_job(*, tenant_id: str, job_id: str) -> str:
    return jobs.submit(tenant_id, job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_job(*, tenant_id: str, job_id: str) -> str:
    status = jobs.poll(tenant_id, job_id)
    if status == "queued":  # some items to resubmit
        return jobs.submit(tenant_id, job_id)
    return status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_running() -> int:
    """Celery beat, every minute: one poll task per running job."""
    running = jobs.active_jobs()
    for tenant_id, job_id in running:
        poll_job.delay(tenant_id=tenant_id, job_id=job_id)
    return len(running)
