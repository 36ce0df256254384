"""The Starter API at ``/api/v1/`` (django-ninja): authentication, tenant context, errors.

``build_api`` makes the NinjaAPI that config/api.py mounts every app's router on. Every
operation runs like this (``_run_in_key_tenant`` wraps ninja's ``Operation.run``):

1. ``ApiKeyAuth`` checks ``Authorization: Bearer sk_…`` (apps/api/auth.py) and attaches
   ``request.api_key`` and ``request.tenant`` (type the request as ``KeyRequest``);
2. it then enters ``tenant_context(key.tenant_id)`` for the rest of the operation, so
   the endpoint, and the serialisation of what it returns, see that tenant's rows only;
3. a response with status >= 400 rolls the operation's writes back (errors change nothing).

An endpoint therefore only checks its scope (``require_scope``) and calls selectors and
services. Endpoints are sync: the context is a transaction held on this thread. Errors
are raised (``ApiError``, ``ServiceError``, ``Http404``, ninja's validation errors) and
answered in the one shape of apps/api/errors.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from apps.api.auth import INVALID_KEY, KeyRequest, authenticate, client_ip, require_scope
from apps.api.errors import ApiError
from apps.api.models import ApiKey
from apps.api.scopes import Scope
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.core.http import ERROR_TYPES, error_response

_SCOPE_ATTR = "_api_tenant_scope"


class ApiKeyAuth(HttpBearer):
    """Bearer auth with a tenant API key; enters the key's tenant for the operation."""

    def __call__(self, request: HttpRequest) -> ApiKey:
        return self.authenticate(request, request.headers.get(self.header, ""))

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        """``token`` is the whole header value here: ``__call__`` passes it unparsed so that
        a missing or malformed header gets its own answer (HttpBearer would return None)."""
        key = authenticate(token, client_ip=client_ip(request))
        scope: ExitStack | None = getattr(request, _SCOPE_ATTR, None)
        if scope is None:
            raise ImproperlyConfigured("ApiKeyAuth runs only inside the Starter API.")
        keyed = cast(KeyRequest, request)
        keyed.api_key = key
        keyed.tenant = key.tenant
        scope.enter_context(tenant_context(key.tenant_id))
        return key


class _Discard(Exception):
    """Carries an error response out of the tenant transaction so that it rolls back."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _run_in_key_tenant(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    if inspect.iscoroutinefunction(run):
        raise ImproperlyConfigured(
            "Starter API endpoints must be sync: the tenant context is a transaction "
            "on this thread. Use apps.core.db.atenant_context in an async view instead."
        )

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            with ExitStack() as scope:
                setattr(request, _SCOPE_ATTR, scope)
                response = run(request, *args, **kwargs)
                if response.status_code >= 400 and getattr(request, "api_key", None):
                    raise _Discard(response)
                return response
        except _Discard as discarded:
            return discarded.response
        finally:
            delattr(request, _SCOPE_ATTR)

    return wrapper


def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(401, INVALID_KEY, code="invalid_api_key")


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, ApiError):
        return exc.response()
    code = ERROR_TYPES.get(exc.status_code, "api_error")
    return error_response(exc.status_code, exc.message, code=code)


def _on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    status = 403 if isinstance(exc, NotAllowed) else 400
    return error_response(status, exc.message, code=exc.code)


def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, str(exc) or "Not found.", code="not_found")


def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in first.get("loc", ())]
    param = ".".join(location[1:]) or None  # drop the source ("body", "query", …)
    detail = first.get("msg", "Invalid input")
    message = f"{detail}{f' (at {param})' if param else ''}. Fix the request and send it again."
    return error_response(422, message, code="invalid_input", param=param)


def build_api(routers: Iterable[Router]) -> NinjaAPI:
    """The Starter API with this app's own endpoints, then ``routers`` in order, then a
    catch-all that answers unknown paths in the API's error shape (ninja matches routers
    in the order they were added, so it goes last). Call it once per process: a ninja
    Router belongs to one API (config/api.py builds it)."""
    api = NinjaAPI(
        title=f"{settings.PRODUCT_NAME} API",
        version="1",
        urls_namespace="api_v1",
        auth=ApiKeyAuth(),
        description=(
            "Authenticate with a tenant API key: `Authorization: Bearer sk_…`. "
            "Create keys in Organisation → API keys."
        ),
    )
    api.add_decorator(_run_in_key_tenant, mode="view")
    api.exception_handler(AuthenticationError)(_on_authentication_error)
    api.exception_handler(HttpError)(_on_http_error)
    api.exception_handler(ServiceError)(_on_service_error)
    api.exception_handler(Http404)(_on_not_found)
    api.exception_handler(ValidationError)(_on_validation_error)
    api.add_router("/", router)
    for other in routers:
        api.add_router("/", other)
    api.add_router("/", _fallback)
    return api


router = Router(tags=["organisation"])


class TenantOut(Schema):
    id: str
    slug: str
    name: str
    plan: str


class KeyOut(Schema):
    id: str
    name: str
    prefix: str
    scopes: list[str]


class MeOut(Schema):
    tenant: TenantOut
    key: KeyOut


@router.get("/me", response=MeOut, summary="The organisation and key making this request")
def me(request: KeyRequest) -> dict[str, Any]:
    key = require_scope(request.api_key, Scope.READ)
    tenant = key.tenant
    return {
        "tenant": {
            "id": str(tenant.id),
            "slug": tenant.slug,
            "name": tenant.name,
            "plan": tenant.plan,
        },
        "key": {"id": str(key.id), "name": key.name, "prefix": key.prefix, "scopes": key.scopes},
    }


_fallback = Router()


@_fallback.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False
)
def _unknown_path(request: HttpRequest, rest: str) -> HttpResponse:
    """Unknown paths answer in the API's error shape, not with an HTML page."""
    raise Http404(f"No endpoint /api/v1/{rest}. See /api/v1/docs for the list.")
