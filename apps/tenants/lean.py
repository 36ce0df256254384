"""Tenant views served lean (apps/core/asgi.py): the member's checks in one thread hop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from apps.core.asgi import served_lean
from apps.core.db import in_worker_thread
from apps.core.lean import authenticate, csrf_refusal
from apps.tenants.mfa import mfa_setup_needed, mfa_setup_response
from apps.tenants.middleware import as_member

Response = TypeVar("Response", bound=HttpResponseBase)


async def run_as_member(
    request: HttpRequest, slug: str, action: Callable[..., Response], *args: Any
) -> HttpResponseBase:
    """``action(request, slug, *args)`` (synchronous) as the signed-in member of tenant
    ``slug``, for an async view marked ``@lean``.

    Served lean: Django's CSRF check on the event loop, then one hop to the shared worker
    pool that loads the session and the user, finds the membership and runs ``action`` in
    the tenant's context, all in one transaction (``as_member``, as TenantMiddleware
    does). Not signed in: the login redirect TenantMiddleware gives; not a member: 404.
    Under the full stack (the test client, WSGI) the middleware did all that already:
    ``action`` runs on the request's own thread, in the middleware's transaction.
    """
    if not served_lean(request):
        return await sync_to_async(action)(request, slug, *args)
    refused = csrf_refusal(request, action)
    if refused is not None:
        return refused
    response = await in_worker_thread(_as_member)(request, slug, action, *args)
    # What SecurityMiddleware adds to every response, for these (JSON) ones.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _as_member(
    request: HttpRequest, slug: str, action: Callable[..., Response], *args: Any
) -> HttpResponseBase:
    authenticate(request)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    with as_member(request, slug) as membership:
        if mfa_setup_needed(membership):
            return mfa_setup_response(request, membership)
        return action(request, slug, *args)
