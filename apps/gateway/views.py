from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from apps.gateway.forms import AISettingsForm
from apps.gateway.selectors import ai_settings_for, usage_records, usage_summary
from apps.gateway.services import ai_settings_update
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
            changes={name: form.cleaned_data[name] for name in form.Meta.fields},
        )
        messages.success(request, "AI settings saved.")
        return redirect("gateway:ai_settings", tenant.slug)
    context = {"form": form, "plan_budget": tenant.limits.monthly_budget_usd}
    return render(request, "gateway/ai_settings.html", context, status=400 if form.errors else 200)


@manager_required
def usage(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    summary = usage_summary(tenant)
    page = Paginator(usage_records(tenant), 50).get_page(request.GET.get("page"))
    return render(request, "gateway/usage.html", {"summary": summary, "page": page})
