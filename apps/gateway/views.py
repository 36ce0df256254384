from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.gateway.forms import AISettingsForm
from apps.gateway.models import SemanticCacheHit
from apps.gateway.selectors import ai_settings_for, semantic_hits, usage_records
from apps.gateway.services import ai_settings_update, cache_hit_report
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest


@manager_required
def ai_settings(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    form = AISettingsForm(
        request.POST or None,
        instance=ai_settings_for(tenant),
        allowed_aliases=tenant.limits.model_aliases,
    )
    if request.method == "POST" and form.is_valid():
        # The form validated its own copy; the service compares against the stored row.
        ai_settings_update(
            actor=request.membership,
            settings=ai_settings_for(tenant),
            changes=form.changes(),
        )
        messages.success(request, "AI settings saved.")
        return redirect("gateway:ai_settings", tenant.slug)
    context = {"form": form, "plan_budget": tenant.limits.monthly_budget_usd}
    return render(request, "gateway/ai_settings.html", context, status=400 if form.errors else 200)


@manager_required
def usage(request: MemberRequest, slug: str) -> HttpResponse:
    """Every call, newest first, paged over the ledger. Totals, charts and the forecast
    are on the Usage & cost page (apps/finops), which reads the rollups."""
    page = Paginator(usage_records(request.tenant), 50).get_page(request.GET.get("page"))
    return render(request, "gateway/usage.html", {"page": page})


@manager_required
def cache_answers(request: MemberRequest, slug: str) -> HttpResponse:
    """Answers the semantic cache served, to report a wrong one; and the reported pairs."""
    tenant = request.tenant
    recent = Paginator(semantic_hits(tenant, reported=False), 25).get_page(request.GET.get("page"))
    reported = list(semantic_hits(tenant, reported=True)[:50])
    context = {"page": recent, "reported": reported}
    return render(request, "gateway/cache_answers.html", context)


@manager_required
@require_POST
def cache_answer_report(request: MemberRequest, slug: str, hit_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    hit = get_object_or_404(SemanticCacheHit, tenant=tenant, id=hit_id)
    try:
        cache_hit_report(
            tenant_id=str(tenant.id),
            usage_record_id=hit.usage_record_id,
            reporter_id=request.user.pk,
            via="admin",
            note=request.POST.get("note", ""),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Reported: that answer will not be served from the cache again.")
    return redirect("gateway:cache_answers", tenant.slug)


@manager_required
def cache_reports_download(request: MemberRequest, slug: str) -> HttpResponse:
    """The reported pairs as JSON lines, the input of ``manage.py cache_decide``."""
    lines = (
        json.dumps({"id": str(hit.id), "cached": hit.cached_query, "new": hit.query}) + "\n"
        for hit in semantic_hits(request.tenant, reported=True).iterator()
    )
    response = HttpResponse("".join(lines), content_type="application/jsonl; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cache-reports.jsonl"'
    return response
