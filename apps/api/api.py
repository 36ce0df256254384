"""The public API at ``/api/v1/`` (django-ninja), authenticated by tenant API keys.

Every operation runs like this (``_run_in_key_tenant`` wraps ninja's ``Operation.run``):

1. ``ApiKeyAuth`` reads ``Authorization: Bearer sk_…``, calls ``api_key_authenticate``
   and attaches ``request.api_key`` and ``request.tenant``;
2. it then enters ``tenant_context(key.tenant_id)`` for the rest of the operation, so
   the endpoint, and the serialisation of what it returns, see that tenant's rows only;
3. a response with status >= 400 rolls the operation's writes back (errors change nothing).

An endpoint therefore only checks its scope (``require_scope``) and calls selectors and
services. Endpoints are sync: the context is a transaction held on this thread.
Errors use OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from functools import wraps
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from apps.api import selectors, services
from apps.api.models import ApiKey, Scope
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError

INVALID_KEY = "Invalid API key. Create one in Organisation → API keys."
MISSING_KEY = (
    "No API key. Send one as 'Authorization: Bearer sk_…'; create it in Organisation → API keys."
)
_SCOPE_ATTR = "_api_tenant_scope"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class KeyRejected(AuthenticationError):
    """A 401 with a message and a machine-readable code for the client."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(401, message)
        self.code = code


class MissingScope(HttpError):
    def __init__(self, scope: str) -> None:
        scope = str(scope)
        super().__init__(
            403,
            f"This API key lacks the '{scope}' scope. Create a key with it in "
            "Organisation → API keys.",
        )
        self.code = "missing_scope"


class ApiKeyAuth(HttpBearer):
    """Bearer auth with a tenant API key; enters the key's tenant for the operation."""

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        header = request.headers.get(self.header, "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.openapi_scheme or not token.strip():
            raise KeyRejected(MISSING_KEY, code="missing_api_key")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = services.api_key_authenticate(token)
        if key is None:
            raise _rejection(token)
        request.api_key = key  # type: ignore[attr-defined]
        request.tenant = key.tenant  # type: ignore[attr-defined]
        scope: ExitStack | None = getattr(request, _SCOPE_ATTR, None)
        if scope is None:
            raise ImproperlyConfigured("ApiKeyAuth runs only inside the Starter API.")
        scope.enter_context(tenant_context(key.tenant_id))
        return key


def _rejection(token: str) -> KeyRejected:
    """Why ``token`` was refused. A revoked or expired key says so: its holder had it."""
    known = selectors.api_key_by_raw_key(token)
    problem = services.api_key_problem(known) if known is not None else None
    if known is None or problem is None:
        return KeyRejected(INVALID_KEY, code="invalid_api_key")
    return KeyRejected(problem, code="revoked_api_key" if known.is_revoked else "expired_api_key")


def require_scope(request: HttpRequest, scope: str) -> ApiKey:
    """The request's key if it carries ``scope``; otherwise a 403 for the client."""
    key: ApiKey = request.api_key  # type: ignore[attr-defined]
    if scope not in Scope.values:
        raise ValueError(f"Unknown scope {scope!r}")
    if not key.has_scope(scope):
        raise MissingScope(scope)
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


def error_response(
    request: HttpRequest, *, status: int, message: str, code: str, param: str | None = None
) -> HttpResponse:
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }
    return api.create_response(request, body, status=status)


api = NinjaAPI(
    title="Starter API",
    version="1",
    urls_namespace="api_v1",
    auth=ApiKeyAuth(),
    description=(
        "Authenticate with a tenant API key: `Authorization: Bearer sk_…`. "
        "Create keys in Organisation → API keys."
    ),
)
api.add_decorator(_run_in_key_tenant, mode="view")


@api.exception_handler(AuthenticationError)
def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    code = getattr(exc, "code", "invalid_api_key")
    message = exc.message if isinstance(exc, KeyRejected) else INVALID_KEY
    return error_response(request, status=401, message=message, code=code)


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = getattr(exc, "code", None) or _ERROR_TYPES.get(exc.status_code, "api_error")
    return error_response(request, status=exc.status_code, message=exc.message, code=code)


@api.exception_handler(ServiceError)
def _on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    status = 403 if isinstance(exc, NotAllowed) else 400
    return error_response(request, status=status, message=exc.message, code=exc.code)


@api.exception_handler(Http404)
def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    message = str(exc) or "Not found."
    return error_response(request, status=404, message=message, code="not_found")


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in first.get("loc", ())]
    param = ".".join(location[1:]) or None  # drop the source ("body", "query", …)
    detail = first.get("msg", "Invalid input")
    message = f"{detail}{f' (at {param})' if param else ''}. Fix the request and send it again."
    return error_response(request, status=422, message=message, code="invalid_input", param=param)


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


@api.get("/me", response=MeOut, summary="The organisation and key making this request")
def me(request: HttpRequest) -> dict[str, Any]:
    key = require_scope(request, Scope.READ)
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


class MessageOut(Schema):
    id: str
    role: str
    content: str
    status: str
    created_at: str
    # Answers from documents: "sources" (passages retrieved), "citations" (each [n]
    # checked: valid, supported), or a "notice"; {} otherwise. See docs/chat.md.
    rag: dict[str, Any]


class ConversationOut(Schema):
    id: str
    title: str
    created_at: str
    updated_at: str


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


def _conversation_dict(conversation: Any) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


@api.get(
    "/conversations",
    response=list[ConversationOut],
    summary="Conversations of the key's creator in this organisation, newest first",
)
def conversations(request: HttpRequest, limit: int = 50) -> list[dict[str, Any]]:
    key = require_scope(request, Scope.READ)
    from apps.chat.selectors import conversations_for

    found = conversations_for(tenant_id=key.tenant_id, user_id=key.created_by_id or 0)
    return [_conversation_dict(c) for c in found[: max(1, min(limit, 200))]]


@api.get(
    "/conversations/{conversation_id}",
    response=ConversationDetailOut,
    summary="One conversation with its messages",
)
def conversation(request: HttpRequest, conversation_id: uuid.UUID) -> dict[str, Any]:
    key = require_scope(request, Scope.READ)
    from apps.chat.selectors import conversations_for

    found = (
        conversations_for(tenant_id=key.tenant_id, user_id=key.created_by_id or 0)
        .filter(id=conversation_id)
        .first()
    )
    if found is None:
        raise Http404("No such conversation.")
    return {
        **_conversation_dict(found),
        "messages": [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "rag": m.rag,
            }
            for m in found.messages.all()
        ],
    }


# Other apps own their endpoints as ninja Routers (auth, tenant context and error
# shapes come from this API). The catch-all router goes last: ninja matches routers
# in the order they were added.
from apps.rag.api import router as documents_router  # noqa: E402
from apps.rag.search_api import router as search_router  # noqa: E402

api.add_router("/", documents_router)
api.add_router("/", search_router)
_fallback = Router()


@_fallback.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False
)
def _unknown_path(request: HttpRequest, rest: str) -> HttpResponse:
    """Unknown paths answer in the API's error shape, not with an HTML page."""
    raise Http404(f"No endpoint /api/v1/{rest}. See /api/v1/docs for the list.")


api.add_router("/", _fallback)
