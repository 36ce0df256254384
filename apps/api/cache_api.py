"""Reports of wrong cached answers over the API (django-ninja Router, mounted by
config/api.py).

An API client that received an answer from the semantic cache (the ledger says so; the
``X-Request-ID`` response header names the call) and finds it wrong reports it here:
the cache entry is removed and the pair of questions kept for the organisation's own
evaluation (scope ``chat``, the scope that asked the question).
"""

from __future__ import annotations

from typing import Any

from ninja import Field, Router, Schema, Status

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.scopes import Scope
from apps.core.errors import ServiceError
from apps.gateway.services import cache_hit_report

router = Router(tags=["cache"])


class CacheReportIn(Schema):
    request_id: str = Field(min_length=1, max_length=64, description="The answer's X-Request-ID")
    note: str = Field("", max_length=500, description="What was wrong, for your admins")


class CacheReportOut(Schema):
    id: str
    request_id: str
    question: str
    cached_question: str
    similarity: float
    reported_at: str


@router.post(
    "/cache/reports",
    response={201: CacheReportOut},
    summary="Report an answer served from the semantic cache as wrong (it is removed)",
)
def cache_report(request: KeyRequest, body: CacheReportIn) -> Status[dict[str, Any]]:
    """201 with the kept pair; the same again for a repeated report. 404 when no answer
    served from the semantic cache has that request id in this organisation."""
    require_scope(request.api_key, Scope.CHAT)
    try:
        hit = cache_hit_report(
            tenant_id=str(request.tenant.id),
            request_id=body.request_id,
            reporter_id=None,
            via="api",
            note=body.note,
        )
    except ServiceError as exc:
        raise ApiError(404, exc.message, code=exc.code, param="request_id") from exc
    assert hit.reported_at is not None  # noqa: S101 - set by the report
    return Status(
        201,
        {
            "id": str(hit.id),
            "request_id": body.request_id,
            "question": hit.query,
            "cached_question": hit.cached_query,
            "similarity": hit.similarity,
            "reported_at": hit.reported_at.isoformat(),
        },
    )
