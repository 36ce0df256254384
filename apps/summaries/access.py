"""The one way to load a tenant's summary job by id, for pages and the API alike."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.summaries.models import SummaryJob
from apps.tenants.http import TenantBound


def get_job(request: TenantBound, job_id: Any) -> SummaryJob:
    """The request's tenant's job, else a 404: another tenant's id is refused exactly
    like an id that never existed."""
    job = SummaryJob.objects.filter(tenant=request.tenant, id=job_id).first()
    if job is None:
        raise Http404("No such summary job.")
    return job
