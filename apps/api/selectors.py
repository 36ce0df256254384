"""Reads for API keys. Call inside the context each docstring names."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from apps.api.models import ApiKey
from apps.core.db import setting_context
from apps.tenants.models import Tenant

API_KEY_SETTING = "app.api_key"
KEY_PREFIX = "sk_"
# The visible part of a key after "sk_": enough to tell keys apart, useless to guess one.
PREFIX_LENGTH = 8


def key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def looks_like_key(raw_key: str) -> bool:
    """A cheap shape check so that garbage never reaches the database."""
    return raw_key.startswith(KEY_PREFIX) and 24 <= len(raw_key) <= 200


def keys_for(tenant: Tenant) -> QuerySet[ApiKey]:
    """All of the tenant's keys, newest first. Call inside tenant_context(tenant)."""
    return ApiKey.objects.filter(tenant=tenant).select_related("created_by").order_by("-created_at")


def unrevoked_key_count(tenant: Tenant) -> int:
    """Call inside tenant_context(tenant)."""
    return ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True).count()


def api_key_by_raw_key(raw_key: str) -> ApiKey | None:
    """The key row for a full key, whatever tenant (if any) is current; no status checks.

    The key table's RLS lets a row be read when the transaction carries the SHA-256 of
    the key (``app.api_key``): the key itself is the capability, as with invitation
    tokens. The tenant row is NOT readable this way: load it in ``tenant_context``.
    """
    if not looks_like_key(raw_key):
        return None
    digest = key_hash(raw_key)
    with setting_context({API_KEY_SETTING: digest}):
        return ApiKey.objects.filter(key_hash=digest).first()
