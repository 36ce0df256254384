"""The alert webhook settings page: the endpoint, its signing secret and delivery log.
Owners and admins only; the secret never leaves this page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from apps.core.errors import ServiceError
from apps.tenants import webhooks
from apps.tenants.access import manager_required
from apps.tenants.forms import WebhookForm
from apps.tenants.http import MemberRequest


@manager_required
def webhook_settings(request: MemberRequest, slug: str) -> HttpResponse:
    """One form (``section=save``) and two buttons (``rotate``, ``test``)."""
    tenant, actor = request.tenant, request.membership
    endpoint = webhooks.endpoint_for(tenant)
    section = request.POST.get("section") if request.method == "POST" else None
    form = WebhookForm(
        request.POST if section == "save" else None,
        initial={"url": endpoint.url, "enabled": endpoint.enabled},
    )
    if section == "save" and form.is_valid():
        try:
            webhooks.webhook_update(
                tenant=tenant,
                actor=actor,
                url=form.cleaned_data["url"],
                enabled=form.cleaned_data["enabled"],
            )
        except ServiceError as exc:
            form.add_error("url", exc.message)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("tenants:webhook", slug)
    elif section == "rotate":
        webhooks.webhook_rotate_secret(tenant=tenant, actor=actor)
        messages.success(request, "New signing secret made. Update your receiver with it now.")
        return redirect("tenants:webhook", slug)
    elif section == "test":
        if webhooks.webhook_send_test(tenant=tenant, actor=actor) is None:
            messages.error(request, "Save an endpoint URL and tick “Send alerts” first.")
        else:
            messages.success(request, "Test event queued; it shows in the log below.")
        return redirect("tenants:webhook", slug)
    context = {
        "form": form,
        "endpoint": endpoint,
        "deliveries": webhooks.recent_deliveries(tenant),
        "signature_header": webhooks.SIGNATURE_HEADER,
    }
    return render(request, "tenants/webhook.html", context, status=400 if form.errors else 200)
