"""Writes for API keys: create, rotate, revoke, re-enable, and authenticate (which
records the last use and reports anomalous use).

The functions that take a ``tenant`` must run inside ``tenant_context`` for it; they
are atomic, check the actor's role, record an audit event and raise ``ServiceError``
(changing nothing) when the request cannot be met. ``api_key_authenticate`` needs no
context: the key is its own capability.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.api import anomaly, key_cache, selectors
from apps.api.models import ApiKey
from apps.api.scopes import scope_names
from apps.api.tasks import send_key_alert_email
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.tenants.models import AuditAction, Membership, Notification, Tenant
from apps.tenants.services import audit_record

MAX_KEYS_PER_TENANT = 25
# The longest overlap a rotation may give the old secret.
MAX_ROTATION_OVERLAP = timedelta(days=30)
# last_used_at is a hint for people ("is this key still in use?"), not an access log:
# writing it on every request would turn each API call into a row update.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _require_manager(*, tenant: Tenant, actor: Membership, key: ApiKey | None = None) -> None:
    if actor.tenant_id != tenant.id or not actor.can_manage:
        raise NotAllowed("Only owners and admins can manage API keys.")
    if key is not None and key.tenant_id != tenant.id:
        raise NotAllowed("This key belongs to another organisation.")


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen, names = set(scopes), scope_names()
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ServiceError(
            f"Unknown scope {', '.join(map(repr, unknown))}. Choose from: {', '.join(names)}."
        )
    if not chosen:
        raise ServiceError(f"Choose at least one scope ({', '.join(names)}).")
    return [scope for scope in names if scope in chosen]  # canonical order


def _issue_key(
    *,
    tenant: Tenant,
    actor: Membership,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """A new key row and its full key (stored only as a hash)."""
    raw_key = selectors.KEY_PREFIX + secrets.token_urlsafe(32)
    prefix_start = len(selectors.KEY_PREFIX)
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=raw_key[prefix_start : prefix_start + selectors.PREFIX_LENGTH],
        key_hash=selectors.key_hash(raw_key),
        scopes=scopes,
        created_by=actor.user,
        expires_at=expires_at,
    )
    return key, raw_key


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
    key, raw_key = _issue_key(
        tenant=tenant, actor=actor, name=name, scopes=clean_scopes, expires_at=expires_at
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
    _require_manager(tenant=tenant, actor=actor, key=key)
    if key.revoked_at is not None:
        raise ServiceError(f"The key {key.name!r} is already revoked.")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    # Forgotten now and again on commit (a request may have cached the key in between).
    key_cache.forget(key.id)
    key_id = key.id
    transaction.on_commit(lambda: key_cache.forget(key_id))
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.API_KEY_REVOKED,
        target=key.name,
        prefix=key.prefix,
    )
    return key


@transaction.atomic
def api_key_rotate(
    *, tenant: Tenant, actor: Membership, key: ApiKey, overlap: timedelta | None = None
) -> tuple[ApiKey, str]:
    """A new secret for ``key``: a new key with the same name, scopes and expiry, and the
    old one kept working for ``overlap`` (default ``API_KEY_ROTATION_OVERLAP_HOURS``) so
    clients can switch without downtime. Returns the new row and its full key (show it
    once). The new key inherits the old one's usage history (apps/api/anomaly.py)."""
    _require_manager(tenant=tenant, actor=actor, key=key)
    if overlap is None:
        overlap = timedelta(hours=settings.API_KEY_ROTATION_OVERLAP_HOURS)
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise ServiceError(
            f"Choose an overlap between 0 and {MAX_ROTATION_OVERLAP.days * 24} hours."
        )
    if key.revoked_at is not None or key.is_expired:
        raise ServiceError(f"The key {key.name!r} is {key.status.lower()}; create a new key.")
    if key.replaced_by_id is not None:
        raise ServiceError(
            f"The key {key.name!r} was already rotated; rotate its replacement instead."
        )
    new_key, raw_key = _issue_key(
        tenant=tenant,
        actor=actor,
        name=key.name,
        scopes=list(key.scopes),
        expires_at=key.expires_at,
    )
    overlap_end = timezone.now() + overlap
    key.replaced_by = new_key
    if key.expires_at is None or key.expires_at > overlap_end:
        key.expires_at = overlap_end
    key.save(update_fields=["replaced_by", "expires_at", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.API_KEY_ROTATED,
        target=key.name,
        prefix=key.prefix,
        new_prefix=new_key.prefix,
        old_key_works_until=key.expires_at.isoformat(),
    )
    old_id, new_id = key.id, new_key.id
    transaction.on_commit(lambda: anomaly.inherit(old_key_id=old_id, new_key_id=new_id))
    transaction.on_commit(lambda: key_cache.forget(old_id))  # its new end date applies
    return new_key, raw_key


@transaction.atomic
def api_key_reenable(*, tenant: Tenant, actor: Membership, key: ApiKey) -> ApiKey:
    """Lift a suspension after anomalous use; the key works again at once."""
    _require_manager(tenant=tenant, actor=actor, key=key)
    if key.suspended_at is None:
        raise ServiceError(f"The key {key.name!r} is not suspended.")
    reason = key.suspended_reason
    key.suspended_at = None
    key.suspended_reason = ""
    key.save(update_fields=["suspended_at", "suspended_reason", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.API_KEY_REENABLED,
        target=key.name,
        prefix=key.prefix,
        suspended_for=reason,
    )
    return key


def api_key_problem(key: ApiKey) -> str | None:
    """Why this key cannot be used (a message for the API client), or None while it can."""
    if key.revoked_at is not None:
        return (
            "This API key was revoked. Create a new one in Organisation → API keys "
            "and update your client."
        )
    if key.is_expired and key.replaced_by_id is not None:
        return (
            "This API key was rotated and its overlap period has ended. Use the key that "
            "replaced it (Organisation → API keys shows its first characters)."
        )
    if key.is_expired:
        return "This API key has expired. Create a new one in Organisation → API keys."
    if key.suspended_at is not None:
        return (
            f"This API key was suspended after unusual use ({key.suspended_reason}). An "
            "owner or admin of the organisation can re-enable it in Organisation → API keys."
        )
    return None


def api_key_authenticate(raw_key: str, *, client_ip: str | None = None) -> ApiKey | None:
    """The usable key for ``raw_key`` with its tenant loaded, or None (unknown, revoked,
    expired, suspended).

    Call outside any tenant context or inside any: the lookup uses the key's hash as
    its capability. A key used in the last ``key_cache.TTL_S`` seconds comes from this
    process's memory (no lookup, no tenant read), so a revocation or suspension made in
    another process applies within that bound; in this process it applies at once.
    Every use is still counted and checked (``_record_use``).
    """
    key = key_cache.get(raw_key)
    if key is None:
        key = selectors.api_key_by_raw_key(raw_key)
        if key is None or api_key_problem(key) is not None:
            return None
        with tenant_context(key.tenant_id):
            # The tenant row is visible only in its own context: load it here, once.
            key.tenant = Tenant.objects.get(id=key.tenant_id)
        key_cache.put(raw_key, key)
    elif api_key_problem(key) is not None:
        return None
    return key if _record_use(key, client_ip) else None


def _record_use(key: ApiKey, client_ip: str | None) -> bool:
    """Count the use in Redis (apps/api/anomaly.py) and record ``last_used_at`` and
    ``last_used_ip`` at most once a minute (at once from a new network); an anomalous
    use is reported, and suspends the key if the tenant chose so. False when this use
    suspended the key: the request is refused too. Writes nothing on most requests."""
    now = timezone.now()
    seen = anomaly.observe(key.id, client_ip)
    moved = seen is not None and seen.new_network is not None
    due = moved or key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION
    if not due and (seen is None or not seen.anomalous):
        return True
    with tenant_context(key.tenant_id):
        if due:
            ApiKey.objects.filter(id=key.id, tenant_id=key.tenant_id).update(
                last_used_at=now, last_used_ip=client_ip
            )
            key.last_used_at, key.last_used_ip = now, client_ip
        if seen is not None and seen.anomalous:
            api_key_report_anomaly(key=key, observation=seen, client_ip=client_ip)
            if key.suspended_at is not None:
                key_cache.forget(key.id)
                return False
    return True


@transaction.atomic
def api_key_report_anomaly(
    *, key: ApiKey, observation: anomaly.Observation, client_ip: str | None
) -> None:
    """Tell the tenant's admins (audit entry, in-app notification, email) and, if the
    tenant chose so, suspend the key. Call inside the key's tenant context, with
    ``key.tenant`` loaded; rare (each anomaly is reported once), so it may write."""
    tenant = key.tenant
    what = observation.describe()
    suspend = tenant.suspend_anomalous_keys
    audit_record(
        tenant=tenant,
        actor=None,
        action=AuditAction.API_KEY_ANOMALY,
        target=key.name,
        prefix=key.prefix,
        reason=what,
        ip=client_ip or "",
    )
    if suspend:
        key.suspended_at = timezone.now()
        key.suspended_reason = what[:200]
        ApiKey.objects.filter(id=key.id, tenant_id=key.tenant_id).update(
            suspended_at=key.suspended_at, suspended_reason=key.suspended_reason
        )
        audit_record(
            tenant=tenant,
            actor=None,
            action=AuditAction.API_KEY_SUSPENDED,
            target=key.name,
            prefix=key.prefix,
            reason=what,
        )
        next_step = (
            "The key was suspended: requests with it are refused until an owner or admin "
            "re-enables it in API keys."
        )
    else:
        next_step = "If this was not expected, rotate or revoke the key in API keys."
    note = Notification.objects.create(
        tenant=tenant,
        kind="api_key.anomaly",
        level="error" if suspend else "warning",
        title=f"Unusual use of the API key {key.name} ({key.masked})",
        body=f"{what[:1].upper()}{what[1:]}. {next_step}",
    )
    tenant_id, note_id = str(tenant.id), str(note.id)
    transaction.on_commit(
        lambda: send_key_alert_email.delay(tenant_id=tenant_id, notification_id=note_id)
    )
