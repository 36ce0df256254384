"""The one way views load a tenant's objects by id: scoped to ``request.tenant``.

RLS already hides other tenants' rows; the explicit tenant filter keeps the query
plan tenant-first and makes the intent plain. A miss is a 404 either way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from apps.tenants.models import Invitation, Membership, Notification, Tenant

_View = TypeVar("_View", bound=Callable[..., HttpResponse])


def current_tenant(request: HttpRequest) -> Tenant:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        raise Http404("No organisation in this URL.")
    return tenant


def current_membership(request: HttpRequest) -> Membership:
    membership = getattr(request, "membership", None)
    if membership is None:
        raise Http404("No organisation in this URL.")
    return membership


def get_membership(request: HttpRequest, membership_id: Any) -> Membership:
    tenant = current_tenant(request)
    membership = (
        Membership.objects.select_related("user", "tenant")
        .filter(id=membership_id, tenant=tenant)
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def get_invitation(request: HttpRequest, invitation_id: Any) -> Invitation:
    tenant = current_tenant(request)
    invitation = Invitation.objects.filter(id=invitation_id, tenant=tenant).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def get_notification(request: HttpRequest, notification_id: Any) -> Notification:
    tenant = current_tenant(request)
    note = Notification.objects.filter(id=notification_id, tenant=tenant).first()
    if note is None:
        raise Http404("No such notification.")
    return note


def manager_required(view: _View) -> _View:
    """Only owners and admins of the URL's tenant get past; others get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not current_membership(request).can_manage:
            raise PermissionDenied("Only owners and admins can open this page.")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
