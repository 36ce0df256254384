"""Authentication and scopes for ``/api/v1/``: the one place a tenant API key is checked.

``authenticate`` reads ``Authorization: Bearer sk_…`` and returns the usable key or
raises ``KeyRejected``; the django-ninja API (apps/api/api.py) and the OpenAI-compatible
view (apps/api/openai_compat.py) both call it, so a key is refused the same way, with
the same code, on every endpoint. A revoked, expired or suspended key says so
(``revoked_api_key``, ``expired_api_key``, ``suspended_api_key``): only the holder of the
full key can learn that, and it tells them what to do; any other key is ``invalid_api_key``.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.api import selectors, services
from apps.api.errors import ApiError
from apps.api.models import ApiKey
from apps.api.scopes import scope_names
from apps.core.http import TracedRequest
from apps.tenants.models import Tenant

INVALID_KEY = "Invalid API key. Create one in Organisation → API keys."
MISSING_KEY = (
    "No API key. Send one as 'Authorization: Bearer sk_…'; create it in Organisation → API keys."
)


class KeyRequest(TracedRequest):
    """A request authenticated by a tenant API key: set by ``ApiKeyAuth`` before any
    endpoint of the Starter API runs, inside the key's tenant context."""

    api_key: ApiKey
    tenant: Tenant


class KeyRejected(ApiError):
    """A 401 with a message and a machine-readable code for the client."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(401, message, code=code)


class KeySuspended(ApiError):
    """A 403: the key is genuine but suspended after unusual use; an admin can lift it."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message, code="suspended_api_key")


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as allauth's throttling sees it (behind a proxy, set
    ``ALLAUTH_TRUSTED_PROXY_COUNT`` or ``ALLAUTH_TRUSTED_CLIENT_IP_HEADER``)."""
    try:
        return str(get_adapter(request).get_client_ip(request))
    except PermissionDenied:
        return None


def authenticate(authorization: str, *, client_ip: str | None = None) -> ApiKey:
    """The usable key named by an ``Authorization`` header value, with its tenant loaded.

    Raises ``KeyRejected`` for a missing, unknown, revoked or expired key, and
    ``KeySuspended`` for a suspended one. ``client_ip`` feeds the key's last-used address
    and its anomaly checks. Call it outside any tenant context: the key's hash is its
    capability. A key used in the last ``key_cache.TTL_S`` seconds is served from this
    process's memory, so a revocation made in another process takes up to that long.
    """
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise KeyRejected(MISSING_KEY, code="missing_api_key")
    key = services.api_key_authenticate(token, client_ip=client_ip)
    if key is None:
        raise _rejection(token)
    return key


def _rejection(token: str) -> ApiError:
    known = selectors.api_key_by_raw_key(token)
    problem = services.api_key_problem(known) if known is not None else None
    if known is None or problem is None:
        return KeyRejected(INVALID_KEY, code="invalid_api_key")
    if known.is_revoked:
        return KeyRejected(problem, code="revoked_api_key")
    if known.is_expired:
        return KeyRejected(problem, code="expired_api_key")
    return KeySuspended(problem)


class MissingScope(ApiError):
    def __init__(self, *scopes: str) -> None:
        named = " or ".join(f"'{scope}'" for scope in scopes)
        which = "it" if len(scopes) == 1 else "one of them"
        super().__init__(
            403,
            f"This API key lacks the {named} scope. Create a key with {which} in "
            "Organisation → API keys.",
            code="missing_scope",
        )


def require_scope(key: ApiKey, *scopes: str) -> ApiKey:
    """``key`` if it carries any of ``scopes``; otherwise ``MissingScope`` (a 403)."""
    unknown = [scope for scope in scopes if scope not in scope_names()]
    if unknown or not scopes:
        raise ValueError(f"Unknown scopes {unknown!r}")
    if not any(key.has_scope(scope) for scope in scopes):
        raise MissingScope(*scopes)
    return key
