"""Summaries over the API (``documents`` scope): start a job, its status, its results.

``POST /api/v1/summaries`` takes document ids or inline texts (with an optional
instruction); ``GET /api/v1/summaries/{id}`` gives status, progress and cost; ``GET
/api/v1/summaries/{id}/results`` streams one JSON line per item; ``POST
/api/v1/summaries/{id}/cancel`` stops it. Another tenant's job id is a 404, exactly like
one that never existed.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, StreamingHttpResponse
from ninja import Router, Schema, Status

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.scopes import Scope
from apps.gateway.types import GatewayError
from apps.summaries import jobs, results
from apps.summaries.access import get_job
from apps.summaries.models import SummaryJob

router = Router(tags=["summaries"])


class SummaryIn(Schema):
    document_ids: list[str] | None = None
    texts: list[str] | None = None
    instruction: str = ""


class SummaryOut(Schema):
    id: str
    status: str
    reason: str
    total: int
    done: int
    failed: int
    progress: int
    cost_usd: str
    realtime_cost_usd: str
    created_at: str
    ended_at: str | None


def as_json(job: SummaryJob) -> dict[str, Any]:
    finished = job.done + job.failed
    return {
        "id": str(job.id),
        "status": job.status,
        "reason": job.reason,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "progress": round(100 * finished / job.total) if job.total else 0,
        "cost_usd": str(job.cost_usd),
        "realtime_cost_usd": str(job.realtime_cost_usd),
        "created_at": job.created_at.isoformat(),
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
    }


def _job(request: KeyRequest, job_id: uuid.UUID) -> SummaryJob:
    try:
        return get_job(request, job_id)
    except Http404:
        raise ApiError(404, f"No summary job {job_id}.", code="not_found") from None


@router.post("/summaries", response={201: SummaryOut}, summary="Summarise documents or texts")
def summary_create(request: KeyRequest, body: SummaryIn) -> Status[dict[str, Any]]:
    """201 with the queued job. 400 for an empty selection, documents not ready, unknown
    ids, or more items than the plan allows in one job (the message says the limit). 429
    ``insufficient_quota`` (as every budget refusal of this API) when the job's estimate
    does not fit what is left of the monthly budget (the message gives both). Nothing is
    queued or charged on a refusal."""
    from apps.summaries.tasks import submit_job

    key = require_scope(request.api_key, Scope.DOCUMENTS)
    if body.document_ids and body.texts:
        raise ApiError(400, "Send document_ids or texts, not both.", code="invalid_request")
    try:
        job = jobs.start_job(
            request.tenant,
            user_id=key.created_by_id,
            api_key_id=key.id,
            document_ids=body.document_ids,
            texts=body.texts,
            instruction=body.instruction,
            on_commit=lambda j: submit_job.delay(tenant_id=str(j.tenant_id), job_id=str(j.id)),
        )
    except jobs.BudgetTooSmall as exc:
        raise ApiError.from_gateway(GatewayError("budget_exceeded", exc.message)) from exc
    except jobs.JobError as exc:
        raise ApiError(400, exc.message, code="invalid_request") from exc
    return Status(201, as_json(job))


@router.get("/summaries/{job_id}", response=SummaryOut, summary="A job's status, progress, cost")
def summary_detail(request: KeyRequest, job_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request.api_key, Scope.DOCUMENTS)
    return as_json(_job(request, job_id))


@router.get("/summaries/{job_id}/results", summary="The job's results as JSON lines")
def summary_results(request: KeyRequest, job_id: uuid.UUID) -> StreamingHttpResponse:
    """One JSON line per item: ``ordinal, document_id, document_title, status, summary,
    error, source_chunk_ids, cost_usd``, streamed in pages."""
    require_scope(request.api_key, Scope.DOCUMENTS)
    job = _job(request, job_id)
    return StreamingHttpResponse(
        results.json_lines(str(job.tenant_id), str(job.id)), content_type="application/x-ndjson"
    )


@router.post(
    "/summaries/{job_id}/cancel", response=SummaryOut, summary="Cancel a job (nothing more charged)"
)
def summary_cancel(request: KeyRequest, job_id: uuid.UUID) -> dict[str, Any]:
    """Stops a queued or running job: its batch is cancelled, items already summarised keep
    their summaries and their cost, nothing more is charged. An ended job is answered as it
    is (cancelling twice is harmless)."""
    require_scope(request.api_key, Scope.DOCUMENTS)
    job = _job(request, job_id)
    jobs.cancel(str(job.tenant_id), str(job.id))
    job.refresh_from_db()
    return as_json(job)
