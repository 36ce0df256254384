from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.api import selectors, services
from apps.api.access import get_api_key
from apps.api.forms import ApiKeyForm
from apps.core.errors import ServiceError
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest


@manager_required
def api_keys(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    form = ApiKeyForm(request.POST or None)
    new_key = None
    raw_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_key, raw_key = services.api_key_create(
                tenant=tenant,
                actor=request.membership,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            # Rendered, not redirected: the full key exists only in this response.
            form = ApiKeyForm()
    context = {
        "form": form,
        "keys": list(selectors.keys_for(tenant)),
        "new_key": new_key,
        "raw_key": raw_key,
        "max_keys": services.MAX_KEYS_PER_TENANT,
    }
    response = render(request, "api/keys.html", context, status=400 if form.errors else 200)
    if raw_key:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@manager_required
def api_key_revoke(request: MemberRequest, slug: str, key_id: UUID) -> HttpResponse:
    key = get_api_key(request, key_id)
    try:
        services.api_key_revoke(tenant=request.tenant, actor=request.membership, key=key)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The key {key.name} (sk_{key.prefix}…) was revoked.")
    return redirect("api:keys", slug)
