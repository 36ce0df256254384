"""An outsider reaches neither the rollups, the operator's daily and monthly totals nor the
rollup queue of another tenant: not through the ORM, not through raw SQL under the runtime
role, not through the rollup task's platform setting (which may list queued tenants and
nothing else), not by turning on the operator functions' setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from apps.core.db import setting_context, tenant_context
from apps.finops import rollups
from apps.finops.models import (
    DailyActiveUser,
    DailyFeatureTotal,
    DailyTenantTotal,
    MonthlyActiveUser,
    MonthlyFeatureTotal,
    PendingUsage,
    UsageRollup,
)
from apps.tenants.models import Tenant
from tests.conftest import owner_of
from tests.finops.conftest import record


def _count(table: str, tenant: Tenant) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant.id])
        return int(cursor.fetchone()[0])


def test_an_outsider_sees_no_rollups_or_queue_rows(tenant: Tenant, other_tenant: Tenant) -> None:
    record(tenant.id)
    record(tenant.id)
    rollups.drain_tenant(tenant.id, limit=1)  # one rolled up, one still queued
    with tenant_context(tenant.id):
        assert (_count("finops_usagerollup", tenant), _count("finops_pendingusage", tenant)) == (
            2,
            1,
        )
    with tenant_context(other_tenant.id):
        assert not UsageRollup.objects.exists()
        assert not PendingUsage.objects.exists()
        assert _count("finops_usagerollup", tenant) == 0
        assert _count("finops_pendingusage", tenant) == 0
        # Writing into another tenant's rollups is refused by the policy's WITH CHECK,
        # and an UPDATE or DELETE finds nothing to touch.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE finops_usagerollup SET calls = 0 WHERE tenant_id = %s", [tenant.id]
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM finops_pendingusage WHERE tenant_id = %s", [tenant.id])
            assert cursor.rowcount == 0
    # No tenant set: nothing (fail closed).
    with transaction.atomic():
        assert _count("finops_usagerollup", tenant) == 0
        assert _count("finops_pendingusage", tenant) == 0
    # The rollup task's setting lists queued rows, read-only, and shows no rollups.
    with setting_context({"app.platform_job": rollups.PLATFORM_JOB}):
        assert _count("finops_pendingusage", tenant) == 1
        assert _count("finops_usagerollup", tenant) == 0
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM finops_pendingusage WHERE tenant_id = %s", [tenant.id])
            assert cursor.rowcount == 0
    with tenant_context(tenant.id):
        assert _count("finops_usagerollup", tenant) == 2


def test_an_outsider_cannot_insert_rollups_for_another_tenant(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    with (
        tenant_context(other_tenant.id),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
    ):
        UsageRollup.objects.create(
            tenant=tenant, period="day", bucket="2026-01-01T00:00Z", feature="chat", model="m"
        )


OPERATOR_TABLES = (
    "finops_dailyfeaturetotal",
    "finops_dailyactiveuser",
    "finops_dailytenanttotal",
    "finops_monthlyfeaturetotal",
    "finops_monthlyactiveuser",
)
NONE, ONE_EACH = [0] * len(OPERATOR_TABLES), [1] * len(OPERATOR_TABLES)


def test_an_outsider_reaches_no_operator_daily_totals(tenant: Tenant, other_tenant: Tenant) -> None:
    record(tenant.id, user_id=owner_of(tenant.id).user_id)
    rollups.drain_tenant(tenant.id)
    with tenant_context(tenant.id):
        assert [_count(table, tenant) for table in OPERATOR_TABLES] == ONE_EACH
    with tenant_context(other_tenant.id):
        assert not DailyFeatureTotal.objects.exists()
        assert not DailyActiveUser.objects.exists()
        assert not DailyTenantTotal.objects.exists()
        assert not MonthlyActiveUser.objects.exists()
        assert not MonthlyFeatureTotal.objects.exists()
        assert [_count(table, tenant) for table in OPERATOR_TABLES] == NONE
        with connection.cursor() as cursor:
            for table in OPERATOR_TABLES:
                cursor.execute(
                    f"UPDATE {table} SET updated_at = now() WHERE tenant_id = %s", [tenant.id]
                )
                assert cursor.rowcount == 0
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.id])
                assert cursor.rowcount == 0
    # No tenant set, the rollup task's setting, or the operator functions' own setting
    # turned on by the runtime role (its policy is for the owner role only): nothing.
    with transaction.atomic():
        assert [_count(table, tenant) for table in OPERATOR_TABLES] == NONE
    for values in ({"app.platform_job": rollups.PLATFORM_JOB}, {"app.operator_read": "on"}):
        with setting_context(values):
            assert [_count(table, tenant) for table in OPERATOR_TABLES] == NONE
    with tenant_context(tenant.id):
        assert [_count(table, tenant) for table in OPERATOR_TABLES] == ONE_EACH


OperatorTotal = (
    DailyFeatureTotal | DailyActiveUser | DailyTenantTotal | MonthlyFeatureTotal | MonthlyActiveUser
)


@pytest.mark.parametrize(
    "model",
    [DailyFeatureTotal, DailyActiveUser, DailyTenantTotal, MonthlyFeatureTotal, MonthlyActiveUser],
)
def test_an_outsider_cannot_write_operator_totals_for_another_tenant(
    tenant: Tenant, other_tenant: Tenant, model: type[OperatorTotal]
) -> None:
    user_id = owner_of(tenant.id).user_id
    fields_of: dict[type[OperatorTotal], dict[str, Any]] = {
        DailyFeatureTotal: {"day": "2026-01-01T00:00Z", "feature": "chat"},
        DailyActiveUser: {"day": "2026-01-01T00:00Z", "user_id": user_id},
        DailyTenantTotal: {"day": "2026-01-01T00:00Z"},
        MonthlyFeatureTotal: {"month": "2026-01-01T00:00Z", "feature": "chat"},
        MonthlyActiveUser: {
            "month": "2026-01-01T00:00Z",
            "user_id": user_id,
            "first_day": "2026-01-01T00:00Z",
        },
    }
    fields = fields_of[model]
    with (
        tenant_context(other_tenant.id),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
    ):
        model.objects.create(tenant=tenant, **fields)
