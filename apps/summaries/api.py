"""Summaries over the API (``documents`` scope): start a job, its status, its results.

``POST /api/v1/summaries`` takes document ids or inline texts (with an optional
instruction); ``GET /api/v1/summaries/{id}`` gives status, progress and cost; ``GET
/api/v1/summaries/{id}/results`` streams one JSON line per item. Another tenant's job id
is a 404, exactly like one that never existed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from ninja import Router, Schema, Status

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.models import Scope
from apps.core.db import tenant_context
from apps.summaries import jobs
from apps.summaries.models import SummaryItem, SummaryJob

router = Router(tags=["summaries"])
PAGE = 200


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
    job = SummaryJob.objects.filter(tenant=request.tenant, id=job_id).first()
    if job is None:
        raise ApiError(404, f"No summary job {job_id}.", code="not_found")
    return job


@router.post("/summaries", response={201: SummaryOut}, summary="Summarise documents or texts")
def summary_create(request: KeyRequest, body: SummaryIn) -> Status[dict[str, Any]]:
    """201 with the queued job. 400 for an empty selection, documents not ready, unknown
    ids, or more items than the plan allows in one job (the message says the limit)."""
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
    except jobs.JobError as exc:
        raise ApiError(400, exc.message, code="invalid_request") from exc
    return Status(201, as_json(job))


@router.get("/summaries/{job_id}", response=SummaryOut, summary="A job's status, progress, cost")
def summary_detail(request: KeyRequest, job_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request.api_key, Scope.DOCUMENTS)
    return as_json(_job(request, job_id))


def _page(tenant_id: str, job_id: str, after: int) -> list[str]:
    with tenant_context(tenant_id):
        items = SummaryItem.objects.filter(job_id=uuid.UUID(job_id), ordinal__gt=after).order_by(
            "ordinal"
        )
        return [
            json.dumps(
                {
                    "ordinal": item.ordinal,
                    "document_id": str(item.document_id) if item.document_id else None,
                    "status": item.status,
                    "summary": item.summary,
                    "error": item.error,
                    "source_chunk_ids": item.chunk_ids,
                    "cost_usd": str(item.cost_usd),
                }
            )
            for item in items[:PAGE]
        ]


async def _lines(tenant_id: str, job_id: str) -> AsyncIterator[bytes]:
    """Pages of items, each read in a worker thread (an async generator: Django reads a
    sync one into a list before sending under ASGI)."""
    after = -1
    while True:
        page = await sync_to_async(_page)(tenant_id, job_id, after)
        for line in page:
            yield line.encode() + b"\n"
        if len(page) < PAGE:
            return
        after = json.loads(page[-1])["ordinal"]


@router.get("/summaries/{job_id}/results", summary="The job's results as JSON lines")
def summary_results(request: KeyRequest, job_id: uuid.UUID) -> StreamingHttpResponse:
    require_scope(request.api_key, Scope.DOCUMENTS)
    job = _job(request, job_id)
    return StreamingHttpResponse(
        _lines(str(job.tenant_id), str(job.id)), content_type="application/x-ndjson"
    )
