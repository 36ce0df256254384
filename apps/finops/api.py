"""``GET /api/v1/usage`` (``read`` scope): the Usage & cost page's numbers for the key's
organisation, from the rollups. Query parameters ``start`` and ``end`` (YYYY-MM-DD, UTC
days, inclusive; default the last 30 days; at most 366 days), ``user`` (a user id) and
``api_key`` (a key id) narrow it. A bad parameter is a 400 that names it."""

from __future__ import annotations

from typing import Any

from ninja import Router

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.scopes import Scope
from apps.finops import export
from apps.finops.selectors import UsageQueryError, parse_query, usage_report
from apps.gateway.config import resolve_sync
from apps.gateway.types import CallContext

router = Router(tags=["usage"])


@router.get("/usage", summary="Usage and cost, with breakdowns, savings and the forecast")
def usage(request: KeyRequest) -> dict[str, Any]:
    require_scope(request.api_key, Scope.READ)
    tenant = request.tenant
    try:
        query = parse_query(tenant, request.GET)
    except UsageQueryError as exc:
        raise ApiError(400, exc.message, code="invalid_request", param=exc.param) from None
    cfg = resolve_sync(
        CallContext(tenant_id=tenant.id, feature="usage", api_key_id=request.api_key.id)
    )
    return export.as_dict(usage_report(tenant, query, cfg))
