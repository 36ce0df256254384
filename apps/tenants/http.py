"""The request types of an organisation's pages, and what an access helper needs."""

from __future__ import annotations

from typing import Protocol

from apps.accounts.http import UserRequest
from apps.tenants.models import Membership, Tenant


class MemberRequest(UserRequest):
    """A request for a page under ``/t/<slug>/``. ``TenantMiddleware`` (or, on the lean
    path, ``apps.tenants.lean.run_as_member``) found the user's membership through RLS,
    set these, and runs the view inside the tenant's database context."""

    tenant: Tenant
    membership: Membership


class TenantBound(Protocol):
    """Anything that carries the tenant it acts in: a member's page request, or an API
    request (``apps.api.auth.KeyRequest``). Access helpers take it, so a page and an
    endpoint load a tenant's object by id the same way."""

    @property
    def tenant(self) -> Tenant: ...
