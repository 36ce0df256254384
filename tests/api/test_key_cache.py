"""API keys remembered briefly per process (apps/api/key_cache.py): a key used a moment
ago costs no database round trip; a revocation applies at once in the revoking process
and within key_cache.TTL_S seconds in any other; expiry is checked on every use."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.api import key_cache
from apps.api.auth import KeyRejected, authenticate
from apps.api.models import ApiKey
from apps.core.db import tenant_context
from apps.tenants.models import Tenant
from tests.api.test_api_keys import call, create_key


def test_a_key_used_a_moment_ago_costs_no_database_round_trip(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    first = authenticate(f"Bearer {raw_key}")
    with CaptureQueriesContext(connection) as queries:
        again = authenticate(f"Bearer {raw_key}")
    assert len(queries) == 0
    assert again.id == first.id == key.id
    assert again.tenant.id == tenant.id


def test_a_key_revoked_in_this_process_is_refused_at_once(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    assert call(raw_key).status_code == 200
    client = Client()
    client.force_login(owner)
    client.post(reverse("api:key_revoke", args=[tenant.slug, key.id]))
    response = call(raw_key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_window(
    owner: User, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_cache, "TTL_S", 0.5)
    key, raw_key = create_key(tenant, owner)
    assert call(raw_key).status_code == 200
    # Another process revokes: this one does not hear of it.
    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=key.id).update(revoked_at=timezone.now())
    assert call(raw_key).status_code == 200  # within the window: still served
    time.sleep(0.6)
    response = call(raw_key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_a_cached_key_is_refused_the_moment_it_expires(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    with tenant_context(tenant.id):
        soon = timezone.now() + timedelta(seconds=0.5)
        ApiKey.objects.filter(id=key.id).update(expires_at=soon)
    assert call(raw_key).status_code == 200
    time.sleep(0.6)
    assert key_cache.TTL_S > 0.6  # still cached: the refusal comes from the expiry check
    with pytest.raises(KeyRejected) as refused:
        authenticate(f"Bearer {raw_key}")
    assert refused.value.code == "expired_api_key"
