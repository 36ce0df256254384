"""Enter the database context for each authenticated request.

For ``/t/<slug>/...`` the tenant is resolved from the slug *through RLS* (only
members can see a tenant), so a tenant you are not in is a 404 that reveals nothing.
The view then runs as that tenant, in the same transaction (``enter_tenant``). Other
authenticated requests run inside ``user_context`` so the tenant switcher can list the
user's organisations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from apps.core.db import enter_tenant, lookup_may_enter, user_context
from apps.tenants import selectors
from apps.tenants.http import MemberRequest
from apps.tenants.mfa import mfa_return_done, mfa_setup_needed, mfa_setup_response
from apps.tenants.models import Membership

TENANT_PATH = re.compile(r"^/t/(?P<slug>[-a-zA-Z0-9_]+)/")
LAST_TENANT_SESSION_KEY = "last_tenant_slug"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = TENANT_PATH.match(request.path_info)
        user = request.user
        if not user.is_authenticated:
            if match:
                return redirect_to_login(request.get_full_path())
            return self.get_response(request)
        if match is None:
            with user_context(user.pk):
                return self.get_response(request)
        with as_member(request, match["slug"]) as membership:
            if membership.tenant.require_mfa:
                if mfa_setup_needed(membership):
                    return mfa_setup_response(request, membership)
                mfa_return_done(request)
            if request.session.get(LAST_TENANT_SESSION_KEY) != membership.tenant.slug:
                request.session[LAST_TENANT_SESSION_KEY] = membership.tenant.slug  # a write
            return self.get_response(request)


@contextmanager
def as_member(request: HttpRequest, slug: str) -> Iterator[Membership]:
    """One transaction: find the authenticated user's membership in the tenant ``slug``
    with the user's rows visible (else 404, as for a slug that does not exist), set
    ``request.tenant`` and ``request.membership``, and go on as that tenant."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionDenied("Sign in first.")
    with user_context(user_id):
        # Outermost, the lookup enters the tenant it finds: one round trip for both.
        enter = lookup_may_enter()
        membership = selectors.membership_for_slug(user_id=user_id, slug=slug, enter=enter)
        if membership is None:
            raise Http404("No such organisation.")
        member_request = cast(MemberRequest, request)
        member_request.tenant = membership.tenant
        member_request.membership = membership
        entered = getattr(membership, "entered", None)  # set by the lookup (enter)
        with enter_tenant(membership.tenant_id, user_id=user_id, entered=entered):
            yield membership
