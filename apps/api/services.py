"""Writes for API keys: create, revoke, and authenticate (which records the last use).

``api_key_create`` and ``api_key_revoke`` take a ``tenant`` and must run inside
``tenant_context`` for it; they are atomic, check the actor's role, record an audit
event and raise ``ServiceError`` (changing nothing) when the request cannot be met.
``api_key_authenticate`` needs no context: the key is its own capability.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.api import key_cache, selectors
from apps.api.models import ApiKey, Scope
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.tenants.models import AuditAction, Membership, Tenant
from apps.tenants.services import audit_record

MAX_KEYS_PER_TENANT = 25
# last_used_at is a hint for people ("is this key still in use?"), not an access log:
# writing it on every request would turn each API call into a row update.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _require_manager(*, tenant: Tenant, actor: Membership) -> None:
    if actor.tenant_id != tenant.id or not actor.can_manage:
        raise NotAllowed("Only owners and admins can manage API keys.")


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    unknown = sorted(chosen - set(Scope.values))
    if unknown:
        raise ServiceError(
            f"Unknown scope {', '.join(map(repr, unknown))}. "
            f"Choose from: {', '.join(Scope.values)}."
        )
    if not chosen:
        raise ServiceError(f"Choose at least one scope ({', '.join(Scope.values)}).")
    return [scope for scope in Scope.values if scope in chosen]  # canonical order


def _new_raw_key() -> str:
    return selectors.KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    actor: Membership,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the full key, which is never stored: show it once."""
    _require_manager(tenant=tenant, actor=actor)
    name = name.strip()
    if not name:
        raise ServiceError("Give the key a name, e.g. the app or server that will use it.")
    if len(name) > 80:
        raise ServiceError("Keep the key's name to 80 characters or fewer.")
    clean_scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("Choose an expiry date in the future, or none.")
    if selectors.unrevoked_key_count(tenant) >= MAX_KEYS_PER_TENANT:
        raise ServiceError(
            f"This organisation already has {MAX_KEYS_PER_TENANT} API keys, the most allowed. "
            "Revoke a key you no longer use, then create the new one."
        )
    raw_key = _new_raw_key()
    prefix_start = len(selectors.KEY_PREFIX)
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=raw_key[prefix_start : prefix_start + selectors.PREFIX_LENGTH],
        key_hash=selectors.key_hash(raw_key),
        scopes=clean_scopes,
        created_by=actor.user,
        expires_at=expires_at,
    )
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.API_KEY_CREATED,
        target=name,
        prefix=key.prefix,
        scopes=clean_scopes,
    )
    return key, raw_key


@transaction.atomic
def api_key_revoke(*, tenant: Tenant, actor: Membership, key: ApiKey) -> ApiKey:
    """Revoke a key; requests with it get 401 at once in this process, within
    ``key_cache.TTL_S`` seconds in every other."""
    _require_manager(tenant=tenant, actor=actor)
    if key.tenant_id != tenant.id:
        raise NotAllowed("This key belongs to another organisation.")
    if key.revoked_at is not None:
        raise ServiceError(f"The key {key.name!r} is already revoked.")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    # Refused at once in this process (again after commit, in case a request cached the
    # key in between); in other processes within key_cache.TTL_S seconds.
    key_cache.forget(key.id)
    transaction.on_commit(lambda: key_cache.forget(key.id))
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.API_KEY_REVOKED,
        target=key.name,
        prefix=key.prefix,
    )
    return key


def api_key_problem(key: ApiKey) -> str | None:
    """Why this key cannot be used (a message for the API client), or None while it can."""
    if key.revoked_at is not None:
        return (
            "This API key was revoked. Create a new one in Organisation → API keys "
            "and update your client."
        )
    if key.is_expired:
        return "This API key has expired. Create a new one in Organisation → API keys."
    return None


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The usable key for ``raw_key`` with its tenant loaded, or None (unknown, revoked, expired).

    Call outside any tenant context or inside any: the lookup uses the key's hash as
    its capability. Records ``last_used_at`` at most once a minute.
    """
    key = selectors.api_key_by_raw_key(raw_key)
    if key is None or api_key_problem(key) is not None:
        return None
    now = timezone.now()
    with tenant_context(key.tenant_id):
        # The tenant row is visible only in its own context: load it here, once.
        key.tenant = Tenant.objects.get(id=key.tenant_id)
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(id=key.id, tenant_id=key.tenant_id).update(last_used_at=now)
            key.last_used_at = now
    return key
