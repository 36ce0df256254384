"""The Usage & cost page and its CSV, for the organisation's owners and admins."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render

from apps.finops import export
from apps.finops.audit import prompt_audit
from apps.finops.selectors import (
    UsageQuery,
    UsageQueryError,
    UsageReport,
    parse_query,
    today_utc,
    usage_report,
)
from apps.gateway.config import resolve_sync
from apps.gateway.types import CallContext
from apps.guardrails.selectors import guardrail_counts
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest


def _chart_data(report: UsageReport) -> dict[str, Any]:
    """What static/js/usage.js draws (passed with json_script: no inline script)."""
    return {
        "daily": {
            "labels": [r.label for r in report.daily],
            "cost": [float(r.totals.cost_usd) for r in report.daily],
            "calls": [r.totals.calls for r in report.daily],
        },
        "features": {
            "labels": [r.label for r in report.by_feature],
            "cost": [float(r.totals.cost_usd) for r in report.by_feature],
        },
        "models": {
            "labels": [r.label for r in report.by_model],
            "cost": [float(r.totals.cost_usd) for r in report.by_model],
        },
        "hours": {
            "labels": [f"{h:02d}:00" for h, _ in report.tokens_today.by_hour],
            "tokens": [n for _, n in report.tokens_today.by_hour],
        },
    }


@manager_required
def usage(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    error = None
    try:
        query = parse_query(tenant, request.GET)
    except UsageQueryError as exc:
        error = exc.message
        query = parse_query(tenant, {})
    cfg = resolve_sync(CallContext(tenant_id=tenant.id, feature="usage"))
    report = usage_report(tenant, query, cfg)
    month_start = datetime.combine(today_utc().replace(day=1), time.min, tzinfo=UTC)
    hits = guardrail_counts(tenant, month_start)
    context = {
        "report": report,
        "audit": prompt_audit(tenant, cfg),
        "charts": _chart_data(report),
        "error": error,
        "today": today_utc(),
        "query_string": request.GET.urlencode(),
        "guardrail_hits": hits,
        "guardrail_total": sum(hits.values()),
    }
    return render(request, "finops/usage.html", context, status=400 if error else 200)


@manager_required
def usage_csv(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    try:
        query: UsageQuery = parse_query(tenant, request.GET)
    except UsageQueryError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    cfg = resolve_sync(CallContext(tenant_id=tenant.id, feature="usage"))
    report = usage_report(tenant, query, cfg)
    body = export.as_csv(report, prompt_audit(tenant, cfg))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    name = f"usage-{tenant.slug}-{query.start}-{query.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
