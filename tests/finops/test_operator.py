"""The operator console (apps/finops/operator.py): staff only; every tenant read through
the audited SECURITY DEFINER functions while the runtime role alone still sees one
tenant; margin from a Stripe revenue record made on the local Stripe server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.finops import operator, rollups
from apps.finops.models import OperatorRead
from apps.gateway.models import UsageRecord
from apps.tenants.models import Tenant
from tests.conftest import make_user, owner_of
from tests.finops.conftest import record

URL = "/operator/"


def staff_user() -> User:
    user = make_user(f"staff-{uuid.uuid4().hex[:10]}@example.com")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def spend(tenant: Tenant, *costs: str, feature: str = "chat", user_id: int | None = None) -> None:
    for cost in costs:
        record(tenant.id, feature=feature, user_id=user_id, cost_usd=Decimal(cost))
    rollups.drain_tenant(tenant.id)


def economics(actor: User) -> dict[str, operator.TenantEconomics]:
    period = operator.month_to_date(timezone.now())
    found = operator.tenant_economics(period, actor_id=actor.pk, reason="test")
    return {row.tenant_id: row for row in found}


# --- Who may open it ----------------------------------------------------------------------


def test_the_console_is_for_staff_only(owner: User, tenant: Tenant, member: User) -> None:
    client = Client()
    assert client.get(URL).status_code == 404  # signed out
    for user in (owner, member):  # a tenant's owner (its top admin) and a member
        client.force_login(user)
        assert client.get(URL).status_code == 404
    assert not OperatorRead.objects.exists()  # refused before any cross-tenant read
    client.force_login(staff_user())
    page = client.get(URL)
    assert page.status_code == 200
    assert tenant.slug in page.content.decode()


def test_a_bad_what_if_says_what_to_give(db: None) -> None:
    client = Client()
    client.force_login(staff_user())
    bad = client.get(URL, {"growth": "lots"})
    assert bad.status_code == 400
    assert "give the user growth in percent" in bad.content.decode()
    assert client.get(URL, {"growth": "1e9"}).status_code == 400
    assert client.get(URL, {"growth": "100"}).status_code == 200


# --- The audited path across tenants --------------------------------------------------------


def test_the_definer_path_reads_every_tenant_while_the_runtime_role_sees_one(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    spend(tenant, "0.50", "0.25")
    spend(other_tenant, "2.00")
    # The runtime role on its own: one tenant in its context, none without, even with
    # the definer's setting turned on (its policy is for the owner role only).
    with tenant_context(tenant.id), connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tenant_id FROM finops_usagerollup")
        assert [row[0] for row in cursor.fetchall()] == [tenant.id]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.operator_read', 'on', true)")
        cursor.execute("SELECT count(*) FROM finops_usagerollup")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM tenants_tenant")
        assert cursor.fetchone()[0] == 0
    # Through the function: both, with their own figures, and the call is on record.
    staff = staff_user()
    found = economics(staff)
    assert found[str(tenant.id)].cost_usd == Decimal("0.75")
    assert found[str(other_tenant.id)].cost_usd == Decimal("2.00")
    assert found[str(other_tenant.id)].name == other_tenant.name
    read = OperatorRead.objects.get()
    assert (read.actor_id, read.function, read.reason) == (staff.pk, "tenants", "test")
    # The function turned its setting off again before returning.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.operator_read', true)")
        assert cursor.fetchone()[0] in ("", None)


@pytest.mark.parametrize("who", ["tenant owner", "nobody", "job without the prefix"])
def test_the_functions_refuse_anyone_but_staff_and_named_jobs(tenant: Tenant, who: str) -> None:
    actor, reason = {
        "tenant owner": (owner_of(tenant.id).user_id, "console"),
        "nobody": (None, ""),
        "job without the prefix": (None, "margin_alerts"),
    }[who]
    period = operator.month_to_date(timezone.now())
    with pytest.raises(DatabaseError, match="staff user"), transaction.atomic():
        operator.tenant_economics(period, actor_id=actor, reason=reason)
    assert not OperatorRead.objects.exists()
    # A job that names itself may read (the daily margin alerts).
    operator.feature_costs(period, actor_id=None, reason="job:test")
    assert OperatorRead.objects.get().reason == "job:test"


def test_the_runtime_role_cannot_forge_or_erase_the_audit_trail(db: None) -> None:
    staff = staff_user()
    operator.feature_costs(
        operator.month_to_date(timezone.now()), actor_id=staff.pk, reason="console"
    )
    for sql in (
        "DELETE FROM finops_operatorread",
        "UPDATE finops_operatorread SET actor_id = NULL",
        "INSERT INTO finops_operatorread (at, reason, function, since, until) "
        "VALUES (now(), 'x', 'x', now(), now())",
    ):
        with (
            pytest.raises(DatabaseError, match="permission denied"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert OperatorRead.objects.count() == 1


def test_a_range_over_400_days_is_refused(db: None) -> None:
    now = timezone.now()
    period = operator.Period(start=now - timedelta(days=401), end=now, prev_start=now, prev_end=now)
    with pytest.raises(DatabaseError, match="at most 400 days"), transaction.atomic():
        operator.feature_costs(period, actor_id=staff_user().pk, reason="t")


# --- Margin, cost model, features -----------------------------------------------------------


def test_the_cost_model_is_measured_from_the_rollups(tenant: Tenant, other_tenant: Tenant) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    owner_id = owner_of(tenant.id).user_id
    # Two user-days of one user (1,000 tokens each), one call of an API key (no user).
    for when in (yesterday, yesterday - timedelta(days=1)):
        row_id = record(
            tenant.id, user_id=owner_id, tokens_in=600, tokens_out=400, cost_usd=Decimal("0.002")
        )
        with tenant_context(tenant.id):
            UsageRecord.objects.filter(id=row_id).update(created_at=when)
    row_id = record(other_tenant.id, tokens_in=500, tokens_out=500, cost_usd=Decimal("0.002"))
    with tenant_context(other_tenant.id):
        UsageRecord.objects.filter(id=row_id).update(created_at=yesterday)
    rollups.drain_tenant(tenant.id)
    rollups.drain_tenant(other_tenant.id)
    staff = staff_user()
    now = timezone.now()
    model = operator.cost_model(now, actor_id=staff.pk, reason="t")
    # Other tests' committed rows may share the database: check the arithmetic on ours
    # only where the whole platform's figures are used.
    assert model.tokens_per_user_day > 0
    assert model.price_per_million > 0
    expected = model.tokens_per_user_day * model.price_per_million / 1_000_000
    assert model.cost_per_active_user_month == expected * model.days_in_month
    users, cost = model.what_if(Decimal(100))
    assert users == model.avg_daily_active_users * 2
    assert cost == model.monthly_cost(users)


def test_the_cost_model_arithmetic() -> None:
    model = operator.CostModel(
        days=30,
        avg_daily_active_users=Decimal(200),
        tokens_per_user_day=Decimal(5_000),
        price_per_million=Decimal(2),
        api_cost_per_day=Decimal(1),
        days_in_month=30,
    )
    # 5,000 tokens a day at $2 per million: $0.01 a day, $0.30 a month per user.
    assert model.cost_per_active_user_month == Decimal("0.3")
    assert model.monthly_cost(Decimal(200)) == Decimal(60) + Decimal(30)
    assert model.what_if(Decimal(50)) == (Decimal(300), Decimal(90) + Decimal(30))


@pytest.mark.parametrize(
    ("revenue", "cost", "prev", "margin", "trend", "flag"),
    [
        ("100", "20", "10", 80.0, 100.0, ""),
        ("100", "75", "0", 25.0, None, "Margin below 30%"),
        ("0", "5", "5", None, 0.0, "Costs money, paid nothing"),
        ("0", "0", "0", None, None, ""),
        ("10", "15", "30", -50.0, -50.0, "Margin below 30%"),
    ],
)
def test_margin_trend_and_flags(
    revenue: str, cost: str, prev: str, margin: float | None, trend: float | None, flag: str
) -> None:
    row = operator.TenantEconomics(
        tenant_id="t",
        name="T",
        slug="t",
        plan="pro",
        cost_usd=Decimal(cost),
        prev_cost_usd=Decimal(prev),
        calls=1,
        tokens=1,
        active_users=1,
        revenue_usd=Decimal(revenue),
    )
    assert row.margin_pct == margin
    assert row.trend_pct == trend
    assert row.flag(30) == flag


def test_month_to_date_compares_the_same_days_of_last_month() -> None:
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    period = operator.month_to_date(now)
    assert period.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert period.prev_start == datetime(2026, 2, 1, tzinfo=UTC)
    assert period.prev_end == datetime(2026, 3, 1, tzinfo=UTC)  # February is shorter
    mid = operator.month_to_date(datetime(2026, 3, 10, tzinfo=UTC))
    assert mid.prev_end == datetime(2026, 2, 10, tzinfo=UTC)


def test_cost_by_feature_across_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    feature = f"op_{uuid.uuid4().hex[:8]}"
    spend(tenant, "0.10", feature=feature)
    spend(other_tenant, "0.30", "0.10", feature=feature)
    period = operator.month_to_date(timezone.now())
    found = {
        f.feature: f for f in operator.feature_costs(period, actor_id=staff_user().pk, reason="t")
    }
    assert (found[feature].calls, found[feature].cost_usd, found[feature].tenants) == (
        3,
        Decimal("0.5"),
        2,
    )


def test_active_users_count_each_person_once_however_many_calls(
    tenant: Tenant, owner: User, member: User
) -> None:
    spend(tenant, "0.10", "0.20", user_id=owner.pk)
    spend(tenant, "0.30", user_id=member.pk)
    spend(tenant, "0.40")  # an API key's call: cost, no person
    row = economics(staff_user())[str(tenant.id)]
    assert (row.active_users, row.calls, row.cost_usd, row.tokens) == (
        2,
        4,
        Decimal("1.00"),
        4 * 150,
    )


def test_active_users_of_a_month_so_far_and_of_any_other_range(
    tenant: Tenant, owner: User, member: User
) -> None:
    """From the first of a month the count reads the month's users and their first day
    (finops migration 0004); any other range counts distinct users over the user-days.
    Both give the people who called in the range."""
    calls = [
        (owner.pk, datetime(2026, 3, 5, 9, tzinfo=UTC)),
        (member.pk, datetime(2026, 3, 2, 9, tzinfo=UTC)),
        (member.pk, datetime(2026, 3, 20, 9, tzinfo=UTC)),
        (owner.pk, datetime(2026, 2, 27, 9, tzinfo=UTC)),
    ]
    for user_id, at in calls:
        row_id = record(tenant.id, user_id=user_id)
        with tenant_context(tenant.id):
            UsageRecord.objects.filter(id=row_id).update(created_at=at)
    rollups.drain_tenant(tenant.id)
    staff = staff_user()

    def active(since: datetime, until: datetime) -> int:
        period = operator.Period(start=since, end=until, prev_start=since, prev_end=since)
        found = operator.tenant_economics(period, actor_id=staff.pk, reason="test")
        return next(row.active_users for row in found if row.tenant_id == str(tenant.id))

    march = datetime(2026, 3, 1, tzinfo=UTC)
    assert active(march, march + timedelta(days=3, hours=12)) == 1  # the member, on the 2nd
    assert active(march, march + timedelta(days=9)) == 2  # and the owner, on the 5th
    assert active(march, datetime(2026, 4, 1, tzinfo=UTC)) == 2  # the whole month
    assert active(march + timedelta(days=2), march + timedelta(days=9)) == 1  # owner only
    assert active(datetime(2026, 2, 1, tzinfo=UTC), march) == 1  # February: the owner
    assert active(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)) == 2


def test_a_month_so_far_reads_the_month_less_the_days_after_it(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """Cost, calls and tenants per feature and per tenant from the first of a month come
    from the month's totals less the days after the range (finops migration 0004); any
    other range adds up days. Both give what the range holds."""
    feature = f"op_{uuid.uuid4().hex[:8]}"
    calls = [
        (tenant, "0.10", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        (tenant, "0.20", datetime(2026, 3, 20, 9, tzinfo=UTC)),
        (other_tenant, "0.40", datetime(2026, 3, 25, 9, tzinfo=UTC)),
        (other_tenant, "0.80", datetime(2026, 2, 27, 9, tzinfo=UTC)),
    ]
    for who, cost, at in calls:
        row_id = record(who.id, feature=feature, cost_usd=Decimal(cost))
        with tenant_context(who.id):
            UsageRecord.objects.filter(id=row_id).update(created_at=at)
        rollups.drain_tenant(who.id)
    staff = staff_user()

    def figures(since: datetime, until: datetime) -> tuple[object, ...]:
        period = operator.Period(start=since, end=until, prev_start=since, prev_end=since)
        by_feature = {
            f.feature: (f.calls, f.cost_usd, f.tenants)
            for f in operator.feature_costs(period, actor_id=staff.pk, reason="test")
        }
        by_tenant = {
            row.tenant_id: (row.calls, row.cost_usd)
            for row in operator.tenant_economics(period, actor_id=staff.pk, reason="test")
        }
        return (
            by_feature.get(feature),
            by_tenant[str(tenant.id)],
            by_tenant[str(other_tenant.id)],
        )

    march, april = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    nothing = (0, Decimal(0))
    # To the 10th: the month less the 20th and the 25th; the other tenant not counted.
    assert figures(march, march + timedelta(days=9)) == (
        (1, Decimal("0.1"), 1),
        (1, Decimal("0.1")),
        nothing,
    )
    assert figures(march, april) == (
        (3, Decimal("0.7"), 2),
        (2, Decimal("0.3")),
        (1, Decimal("0.4")),
    )
    # From the 2nd (not a month's first): the days.
    assert figures(march + timedelta(days=1), march + timedelta(days=21)) == (
        (2, Decimal("0.3"), 1),
        (2, Decimal("0.3")),
        nothing,
    )
    # Across two months: the days.
    assert figures(datetime(2026, 2, 1, tzinfo=UTC), march + timedelta(days=9)) == (
        (2, Decimal("0.9"), 2),
        (1, Decimal("0.1")),
        (1, Decimal("0.8")),
    )
