"""Tenant AI settings remembered briefly per process (apps/gateway/config.py): a tenant
resolved a moment ago costs neither a Redis nor a database round trip; a change applies
at once in the process that made it and within config.LOCAL_TTL_S in any other."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.db import tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.gateway import config
from apps.gateway.models import AISettings
from apps.tenants.models import Tenant
from tests.gateway.conftest import MakeTenant, ctx_for


def resolve(tenant: Tenant) -> config.ResolvedConfig:
    return async_to_sync(config.resolve)(ctx_for(tenant))


def set_prompt(tenant: Tenant, prompt: str) -> None:
    with tenant_context(tenant.id):
        AISettings.objects.filter(tenant=tenant).update(system_prompt=prompt)


def test_a_tenant_resolved_a_moment_ago_costs_no_round_trip(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(system_prompt="Be brief.")
    first = resolve(tenant)
    asked: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            asked.append(name)
            return getattr(get_redis(), name)

    monkeypatch.setattr(config, "get_redis", Counting)
    with CaptureQueriesContext(connection) as queries:
        again = resolve(tenant)

    assert (asked, len(queries)) == ([], 0)
    assert again == first
    assert again.system_prompt == "Be brief."


def test_a_change_made_in_this_process_applies_at_once(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(system_prompt="Be brief.")
    assert resolve(tenant).system_prompt == "Be brief."

    set_prompt(tenant, "Be thorough.")
    config.invalidate(tenant.id)  # as the AI settings service does on commit

    assert resolve(tenant).system_prompt == "Be thorough."


def test_a_change_made_elsewhere_applies_within_the_bound(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "LOCAL_TTL_S", 0.5)
    tenant = make_tenant(system_prompt="Be brief.")
    assert resolve(tenant).system_prompt == "Be brief."

    # Another process changes the settings and drops the shared copy; this one's stays.
    set_prompt(tenant, "Be thorough.")
    sync_redis().delete(config._key(tenant.id))

    assert resolve(tenant).system_prompt == "Be brief."  # within the bound
    time.sleep(0.6)
    assert resolve(tenant).system_prompt == "Be thorough."
