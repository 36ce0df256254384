from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from apps.guardrails.policy import LABELS, Check
from apps.guardrails.selectors import guardrail_events
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest


@manager_required
def events(request: MemberRequest, slug: str) -> HttpResponse:
    """The tenant's guardrail log, newest first, filterable by check."""
    check = request.GET.get("check", "")
    if check not in {c.value for c in Check}:
        check = ""
    page = Paginator(guardrail_events(request.tenant, check=check), 50).get_page(
        request.GET.get("page")
    )
    checks = [(c.value, LABELS[c].split(" (")[0]) for c in Check]
    context = {"page": page, "checks": checks, "check": check, "labels": dict(checks)}
    return render(request, "guardrails/events.html", context)
