"""The one way views load a tenant's objects by id: scoped to ``request.tenant``.

Each app has such a module (``apps/<app>/access.py``); its helpers take a
``TenantBound`` (a member's page request or an API request), so pages and endpoints
load objects the same way. RLS already hides other tenants' rows; the explicit tenant
filter keeps the query plan tenant-first and makes the intent plain. A miss is a 404
either way, for an id of another tenant exactly as for one that never existed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from apps.tenants.http import TenantBound
from apps.tenants.models import Invitation, Membership, Notification

_View = TypeVar("_View", bound=Callable[..., HttpResponse])


def current_membership(request: HttpRequest) -> Membership:
    membership: Membership | None = getattr(request, "membership", None)
    if membership is None:
        raise Http404("No organisation in this URL.")
    return membership


def get_membership(request: TenantBound, membership_id: Any) -> Membership:
    tenant = request.tenant
    membership = (
        Membership.objects.select_related("user", "tenant")
        .filter(id=membership_id, tenant=tenant)
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def get_invitation(request: TenantBound, invitation_id: Any) -> Invitation:
    tenant = request.tenant
    invitation = Invitation.objects.filter(id=invitation_id, tenant=tenant).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def get_notification(request: TenantBound, notification_id: Any) -> Notification:
    tenant = request.tenant
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
