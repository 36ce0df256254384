from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.api import selectors, services
from apps.api.access import get_api_key
from apps.api.forms import ApiKeyForm, RotateForm
from apps.api.models import ApiKey
from apps.core.errors import ServiceError
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest


@manager_required
def api_keys(request: MemberRequest, slug: str) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    raw_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_key, raw_key = services.api_key_create(
                tenant=request.tenant,
                actor=request.membership,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            # Rendered, not redirected: the full key exists only in this response.
            form = ApiKeyForm()
    return _keys_page(request, form, new_key=new_key, raw_key=raw_key)


def _keys_page(
    request: MemberRequest,
    form: ApiKeyForm,
    *,
    new_key: ApiKey | None = None,
    raw_key: str | None = None,
    rotated: ApiKey | None = None,
) -> HttpResponse:
    context = {
        "form": form,
        "keys": list(selectors.keys_for(request.tenant)),
        "new_key": new_key,
        "raw_key": raw_key,
        "rotated": rotated,
        "max_keys": services.MAX_KEYS_PER_TENANT,
    }
    response = render(request, "api/keys.html", context, status=400 if form.errors else 200)
    if raw_key:
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@manager_required
def api_key_rotate(request: MemberRequest, slug: str, key_id: UUID) -> HttpResponse:
    """GET: choose the overlap. POST: a new secret for the key, shown once on the keys
    page like a new key; the old secret keeps working for the overlap."""
    key = get_api_key(request, key_id)
    form = RotateForm(
        request.POST if request.method == "POST" else None,
        initial={"overlap_hours": RotateForm.default_overlap()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            new_key, raw_key = services.api_key_rotate(
                tenant=request.tenant,
                actor=request.membership,
                key=key,
                overlap=timedelta(hours=form.cleaned_data["overlap_hours"]),
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            return _keys_page(request, ApiKeyForm(), new_key=new_key, raw_key=raw_key, rotated=key)
    context = {"key": key, "form": form}
    return render(request, "api/key_rotate.html", context, status=400 if form.errors else 200)


@require_POST
@manager_required
def api_key_reenable(request: MemberRequest, slug: str, key_id: UUID) -> HttpResponse:
    return _key_action(request, key_id, services.api_key_reenable, "works again")


@require_POST
@manager_required
def api_key_revoke(request: MemberRequest, slug: str, key_id: UUID) -> HttpResponse:
    return _key_action(request, key_id, services.api_key_revoke, "was revoked")


def _key_action(
    request: MemberRequest, key_id: UUID, action: Callable[..., ApiKey], done: str
) -> HttpResponse:
    """Run ``action`` on the tenant's key, say how it went, back to the keys page."""
    key = get_api_key(request, key_id)
    try:
        action(tenant=request.tenant, actor=request.membership, key=key)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The key {key.name} ({key.masked}) {done}.")
    return redirect("api:keys", request.tenant.slug)
