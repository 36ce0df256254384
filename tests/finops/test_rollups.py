"""Rollups equal the raw ledger (apps/finops/rollups.py): for every kind of row, after
writes and drains that run at the same time, and after a row that commits late. So do the
operator's tables the same drain keeps: daily totals per feature and per tenant, active
user-days, and each month's users with their first day."""

from __future__ import annotations

import importlib
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Aggregate, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, Trunc

from apps.core.db import tenant_context
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
from apps.gateway.models import CacheKind, CallStatus, UsageRecord
from apps.tenants.models import Tenant
from tests.conftest import owner_of
from tests.finops.conftest import FAST, SMART, new_tenant, record
from tests.pg import connect

Totals = dict[tuple[Any, ...], tuple[Any, ...]]
BATCH = Q(batch=True)


def ledger_totals(tenant_id: uuid.UUID, period: str) -> Totals:
    """What the rollups must hold, computed from the ledger by the ORM (not by the SQL
    under test)."""
    with tenant_context(tenant_id):
        rows = (
            UsageRecord.objects.filter(tenant_id=tenant_id)
            .annotate(
                bucket=Trunc("created_at", period, tzinfo=UTC),
                model=Coalesce(NullIf("served_model", Value("")), "requested_model"),
            )
            .values("bucket", "feature", "model", "user_id", "api_key_id")
            .annotate(
                calls=Count("id"),
                tokens_in=Sum("tokens_in"),
                tokens_out=Sum("tokens_out"),
                cost=Sum("cost_usd"),
                exact=Count("id", filter=Q(cache=CacheKind.EXACT)),
                semantic=Count("id", filter=Q(cache=CacheKind.SEMANTIC)),
                saved_exact=Coalesce(
                    Sum("saved_cost_usd", filter=Q(cache=CacheKind.EXACT)), Decimal(0)
                ),
                saved_semantic=Coalesce(
                    Sum("saved_cost_usd", filter=Q(cache=CacheKind.SEMANTIC)), Decimal(0)
                ),
                errors=Count("id", filter=Q(status=CallStatus.ERROR)),
                stopped=Count(
                    "id",
                    filter=Q(status__in=(CallStatus.ABORTED, CallStatus.CUT, CallStatus.BLOCKED)),
                ),
                batch_calls=Count("id", filter=BATCH),
                batch_cost=Coalesce(Sum("cost_usd", filter=BATCH), Decimal(0)),
            )
        )
        return {
            (r["bucket"], r["feature"], r["model"], r["user_id"], r["api_key_id"]): (
                r["calls"],
                r["tokens_in"],
                r["tokens_out"],
                r["cost"],
                r["exact"],
                r["semantic"],
                r["saved_exact"],
                r["saved_semantic"],
                r["errors"],
                r["stopped"],
                r["batch_calls"],
                r["batch_cost"],
            )
            for r in rows
        }


def rollup_totals(tenant_id: uuid.UUID, period: str) -> Totals:
    with tenant_context(tenant_id):
        return {
            (r.bucket, r.feature, r.model, r.user_id, r.api_key_id): (
                r.calls,
                r.tokens_in,
                r.tokens_out,
                r.cost_usd,
                r.exact_hits,
                r.semantic_hits,
                r.saved_exact_usd,
                r.saved_semantic_usd,
                r.errors,
                r.stopped,
                r.batch_calls,
                r.batch_cost_usd,
            )
            for r in UsageRollup.objects.filter(tenant_id=tenant_id, period=period)
        }


SIGNED_IN = Q(user_id__isnull=False)
DAY_FIELDS = ("calls", "sum_in", "sum_out", "cost", "user_tokens", "user_cost")


def by_day_and_feature(rows: QuerySet[Any, Any], calls: Aggregate) -> Totals:
    """Rows with ``day`` and ``feature`` summed as ``DailyFeatureTotal`` sums them; ``calls``
    counts ledger rows or adds rollup rows' calls."""
    summed = rows.values("day", "feature").annotate(
        calls=calls,
        sum_in=Sum("tokens_in"),  # not named after the fields, which F() below reads
        sum_out=Sum("tokens_out"),
        cost=Sum("cost_usd"),
        user_tokens=Coalesce(Sum(F("tokens_in") + F("tokens_out"), filter=SIGNED_IN), 0),
        user_cost=Coalesce(Sum("cost_usd", filter=SIGNED_IN), Decimal(0)),
    )
    return {(r["day"], r["feature"]): tuple(r[f] for f in DAY_FIELDS) for r in summed}


def ledger_day_features(tenant_id: uuid.UUID) -> Totals:
    """What ``DailyFeatureTotal`` must hold, from the ledger by the ORM."""
    with tenant_context(tenant_id):
        rows = UsageRecord.objects.filter(tenant_id=tenant_id).annotate(
            day=Trunc("created_at", "day", tzinfo=UTC)
        )
        return by_day_and_feature(rows, Count("id"))


def rollups_by_day_and_feature(tenant_id: uuid.UUID) -> Totals:
    """The daily rollups summed over model, user and key: what the drain adds up."""
    with tenant_context(tenant_id):
        rows = UsageRollup.objects.filter(tenant_id=tenant_id, period="day").annotate(
            day=F("bucket")
        )
        return by_day_and_feature(rows, Sum("calls"))


def day_feature_totals(tenant_id: uuid.UUID) -> Totals:
    with tenant_context(tenant_id):
        return {
            (r.day, r.feature): (
                r.calls,
                r.tokens_in,
                r.tokens_out,
                r.cost_usd,
                r.user_tokens,
                r.user_cost_usd,
            )
            for r in DailyFeatureTotal.objects.filter(tenant_id=tenant_id)
        }


def ledger_user_days(tenant_id: uuid.UUID) -> set[tuple[Any, ...]]:
    with tenant_context(tenant_id):
        return set(
            UsageRecord.objects.filter(tenant_id=tenant_id, user_id__isnull=False)
            .annotate(day=Trunc("created_at", "day", tzinfo=UTC))
            .values_list("day", "user_id")
            .distinct()
        )


def active_user_days(tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with tenant_context(tenant_id):
        return list(DailyActiveUser.objects.filter(tenant_id=tenant_id).values_list("day", "user"))


TENANT_DAY_FIELDS = (*DAY_FIELDS, "user_days")


def ledger_tenant_days(tenant_id: uuid.UUID) -> Totals:
    """What ``DailyTenantTotal`` must hold, from the ledger by the ORM: each day's sums
    and its distinct signed-in users."""
    with tenant_context(tenant_id):
        summed = (
            UsageRecord.objects.filter(tenant_id=tenant_id)
            .annotate(day=Trunc("created_at", "day", tzinfo=UTC))
            .values("day")
            .annotate(
                calls=Count("id"),
                sum_in=Sum("tokens_in"),
                sum_out=Sum("tokens_out"),
                cost=Sum("cost_usd"),
                user_tokens=Coalesce(Sum(F("tokens_in") + F("tokens_out"), filter=SIGNED_IN), 0),
                user_cost=Coalesce(Sum("cost_usd", filter=SIGNED_IN), Decimal(0)),
                user_days=Count("user_id", distinct=True),
            )
        )
        return {(r["day"],): tuple(r[f] for f in TENANT_DAY_FIELDS) for r in summed}


def tenant_day_totals(tenant_id: uuid.UUID) -> Totals:
    with tenant_context(tenant_id):
        return {
            (r.day,): (
                r.calls,
                r.tokens_in,
                r.tokens_out,
                r.cost_usd,
                r.user_tokens,
                r.user_cost_usd,
                r.user_days,
            )
            for r in DailyTenantTotal.objects.filter(tenant_id=tenant_id)
        }


MONTH_FIELDS = ("calls", "sum_in", "sum_out", "cost")


def ledger_month_features(tenant_id: uuid.UUID) -> Totals:
    """What ``MonthlyFeatureTotal`` must hold, from the ledger by the ORM."""
    with tenant_context(tenant_id):
        summed = (
            UsageRecord.objects.filter(tenant_id=tenant_id)
            .annotate(month=Trunc("created_at", "month", tzinfo=UTC))
            .values("month", "feature")
            .annotate(
                calls=Count("id"),
                sum_in=Sum("tokens_in"),
                sum_out=Sum("tokens_out"),
                cost=Sum("cost_usd"),
            )
        )
        return {(r["month"], r["feature"]): tuple(r[f] for f in MONTH_FIELDS) for r in summed}


def month_feature_totals(tenant_id: uuid.UUID) -> Totals:
    with tenant_context(tenant_id):
        return {
            (r.month, r.feature): (r.calls, r.tokens_in, r.tokens_out, r.cost_usd)
            for r in MonthlyFeatureTotal.objects.filter(tenant_id=tenant_id)
        }


def ledger_month_users(tenant_id: uuid.UUID) -> set[tuple[Any, ...]]:
    """(month, user, first day of the month the user called on), from the ledger's
    user-days (the ORM's ``Trunc``; the minimum taken here)."""
    first: dict[tuple[Any, int], datetime] = {}
    for day, user in ledger_user_days(tenant_id):
        month = day.replace(day=1)
        first[month, user] = min(day, first.get((month, user), day))
    return {(month, user, day) for (month, user), day in first.items()}


def month_users(tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with tenant_context(tenant_id):
        return list(
            MonthlyActiveUser.objects.filter(tenant_id=tenant_id).values_list(
                "month", "user", "first_day"
            )
        )


def assert_rollups_match(tenant_id: uuid.UUID) -> None:
    for period in ("hour", "day"):
        expected = ledger_totals(tenant_id, period)
        assert expected, "the test wrote no ledger rows"
        assert rollup_totals(tenant_id, period) == expected
    # The operator's tables: the ledger's days, and the daily rollups summed, exactly.
    by_feature = day_feature_totals(tenant_id)
    assert by_feature == ledger_day_features(tenant_id)
    assert by_feature == rollups_by_day_and_feature(tenant_id)
    user_days = active_user_days(tenant_id)
    assert len(user_days) == len(set(user_days))  # one row per user-day
    assert set(user_days) == ledger_user_days(tenant_id)
    assert tenant_day_totals(tenant_id) == ledger_tenant_days(tenant_id)
    assert month_feature_totals(tenant_id) == ledger_month_features(tenant_id)
    users_of_months = month_users(tenant_id)
    assert len(users_of_months) == len(set(users_of_months))  # one row per month and user
    assert set(users_of_months) == ledger_month_users(tenant_id)


def every_kind_of_row(tenant: Tenant) -> None:
    user_id = owner_of(tenant.id).user_id
    key = uuid.uuid4()
    record(tenant.id, user_id=user_id)
    record(tenant.id, user_id=user_id)  # same key: added to the same rollup row
    record(tenant.id, user_id=user_id, requested_model="smart", served_model=SMART,
           cost_usd=Decimal("0.00075000"))  # fmt: skip
    record(tenant.id, api_key_id=key, feature="api_chat")
    record(tenant.id, cache=CacheKind.EXACT, tokens_in=0, tokens_out=0,
           cost_usd=Decimal(0), saved_cost_usd=Decimal("0.00004500"))  # fmt: skip
    record(tenant.id, cache=CacheKind.SEMANTIC, tokens_in=0, tokens_out=0,
           cost_usd=Decimal(0), saved_cost_usd=Decimal("0.00003100"))  # fmt: skip
    record(tenant.id, status=CallStatus.ERROR, served_model="", tokens_in=0, tokens_out=0,
           cost_usd=Decimal(0), error_code="provider_unavailable")  # fmt: skip
    record(tenant.id, status=CallStatus.ABORTED, tokens_out=7)
    record(tenant.id, status=CallStatus.BLOCKED, tokens_out=0, cost_usd=Decimal(0))
    # A Batch API item (marked so by record_batch_usage), and a row that only looks like
    # one by the rule the rollups used before the mark (requested model = served model).
    record(tenant.id, feature="batch_summary", requested_model=FAST, batch=True,
           cost_usd=Decimal("0.00002250"))  # fmt: skip
    record(tenant.id, feature="api_chat", requested_model=FAST)


def test_rollups_equal_the_ledger_for_every_kind_of_row(tenant: Tenant) -> None:
    other = new_tenant("Other Books")
    every_kind_of_row(tenant)
    every_kind_of_row(other)
    # Inside a caller's transaction the ledger writes through tenant_context: queued too.
    with transaction.atomic():
        record(tenant.id, feature="summary")

    assert {tenant.id, other.id} <= set(rollups.tenants_with_pending())
    report = rollups.drain()

    # (Other tests' committed rows may be queued as well: at least ours were taken.)
    assert report.tenants >= 2
    assert report.rows >= 23
    assert_rollups_match(tenant.id)
    assert_rollups_match(other.id)
    with tenant_context(tenant.id):
        daily = UsageRollup.objects.filter(tenant=tenant, period="day")
        assert daily.aggregate(n=Sum("calls"))["n"] == 12
        assert not PendingUsage.objects.exists()
    # A second run finds nothing to add: each ledger row counts once.
    assert rollups.drain_tenant(tenant.id) == (0, 0)
    assert tenant.id not in rollups.tenants_with_pending()
    assert_rollups_match(tenant.id)


def test_rows_are_drained_in_batches_and_added_to_the_same_buckets(tenant: Tenant) -> None:
    for _ in range(5):
        record(tenant.id)
    assert rollups.drain_tenant(tenant.id, limit=2) == (2, 2)  # an hour row and a day row
    assert rollups.drain_tenant(tenant.id, limit=2) == (2, 2)
    assert rollups.drain_tenant(tenant.id, limit=2) == (1, 2)
    assert rollups.drain_tenant(tenant.id, limit=2) == (0, 0)
    assert_rollups_match(tenant.id)


def test_old_hourly_rows_are_pruned_and_daily_rows_kept(tenant: Tenant) -> None:
    row_id = record(tenant.id)
    old = datetime.now(UTC) - timedelta(days=30)
    with tenant_context(tenant.id):
        UsageRecord.objects.filter(id=row_id).update(created_at=old)
    report = rollups.drain(datetime.now(UTC))
    assert report.pruned == 1
    with tenant_context(tenant.id):
        assert list(UsageRollup.objects.values_list("period", "calls")) == [("day", 1)]


WRITERS = 4
ROWS_PER_WRITER = 40


@pytest.mark.usefixtures("live_db")
def test_rollups_stay_exact_under_concurrent_writes_drains_and_a_late_row() -> None:
    tenant, other = new_tenant("Busy Books"), new_tenant("Busy Neighbours")
    user_id = owner_of(tenant.id).user_id
    models = (FAST, SMART)
    stop = threading.Event()
    errors: list[BaseException] = []

    def in_thread(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    def writer(n: int) -> Any:
        def work() -> None:
            for i in range(ROWS_PER_WRITER):
                record(
                    tenant.id if i % 3 else other.id,
                    user_id=user_id if i % 2 else None,
                    served_model=models[(n + i) % 2],
                    tokens_in=n + i,
                    cost_usd=Decimal(n * 100 + i) / 10**6,
                )

        return work

    def drainer() -> None:
        while not stop.is_set():
            rollups.drain()

    # The late row: written (with yesterday's time) in a transaction that stays open
    # while every other row is written and drained, committed last.
    written, release = threading.Event(), threading.Event()
    late_id: list[uuid.UUID] = []

    def late_writer() -> None:
        with transaction.atomic():
            late_id.append(record(tenant.id, feature="late", user_id=user_id, tokens_in=999))
            with tenant_context(tenant.id):
                UsageRecord.objects.filter(id=late_id[0]).update(
                    created_at=datetime.now(UTC) - timedelta(days=1)
                )
            written.set()
            release.wait(timeout=60)

    late = in_thread(late_writer)
    late.start()
    assert written.wait(timeout=30)
    threads = [in_thread(writer(n)) for n in range(WRITERS)]
    drainers = [in_thread(drainer) for _ in range(2)]
    for thread in threads + drainers:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    for thread in drainers:
        thread.join(timeout=120)
    rollups.drain()
    assert errors == []
    # Everything committed is rolled up; the late row is not (it is not committed yet).
    assert_rollups_match(tenant.id)
    assert_rollups_match(other.id)
    with tenant_context(tenant.id):
        assert not UsageRollup.objects.filter(feature="late").exists()
        assert not DailyFeatureTotal.objects.filter(feature="late").exists()
        before_late = set(DailyActiveUser.objects.values_list("day", "user_id"))
    before_late_months = set(month_users(tenant.id))

    release.set()
    late.join(timeout=30)
    assert errors == []
    rollups.drain()

    assert_rollups_match(tenant.id)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with tenant_context(tenant.id):
        late_row = UsageRollup.objects.get(feature="late", period="day")
        total = UsageRollup.objects.filter(period="day").aggregate(n=Sum("calls"))["n"]
    with tenant_context(other.id):
        other_total = UsageRollup.objects.filter(period="day").aggregate(n=Sum("calls"))["n"]
    assert (late_row.bucket, late_row.calls, late_row.tokens_in) == (yesterday, 1, 999)
    # The late row lands in its own day in the operator's tables too.
    with tenant_context(tenant.id):
        late_day = DailyFeatureTotal.objects.get(feature="late")
        user_days = set(DailyActiveUser.objects.values_list("day", "user_id"))
    assert (late_day.day, late_day.calls, late_day.tokens_in, late_day.user_tokens) == (
        yesterday,
        1,
        999,
        999 + 50,
    )
    # The writers' signed-in rows made one user-day today; the late row adds yesterday's.
    today = yesterday + timedelta(days=1)
    assert before_late == {(today, user_id)}
    assert user_days == {(yesterday, user_id), (today, user_id)}
    # The month's user: first seen today, then (the late row) yesterday, or a user of
    # last month as well on the first of a month.
    assert before_late_months == {(today.replace(day=1), user_id, today)}
    months = {(yesterday.replace(day=1), user_id, yesterday)}
    if today.month != yesterday.month:
        months.add((today.replace(day=1), user_id, today))
    assert set(month_users(tenant.id)) == months
    with tenant_context(tenant.id):
        days = dict(DailyTenantTotal.objects.values_list("day", "user_days"))
    assert days == {yesterday: 1, today: 1}  # two drains raced on today's user-day
    mine = sum(1 for i in range(ROWS_PER_WRITER) if i % 3) * WRITERS
    assert total == mine + 1
    assert other_total == WRITERS * ROWS_PER_WRITER - mine
    connection.close()


def test_the_beat_task_rolls_up_and_one_run_at_a_time(tenant: Tenant) -> None:
    from apps.core.redis_client import sync_redis
    from apps.finops import tasks

    record(tenant.id)
    lock = sync_redis().lock(tasks.ROLLUP_LOCK, timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert tasks.rollup_usage.delay().get() == {"skipped": 1}
        assert tenant.id in rollups.tenants_with_pending()
    finally:
        lock.release()
    report = tasks.rollup_usage.delay().get()
    assert report["rows"] >= 1
    assert tenant.id not in rollups.tenants_with_pending()
    assert_rollups_match(tenant.id)


OPERATOR_SNAPSHOT = (
    "SELECT tenant_id, day, feature, calls, tokens_in, tokens_out, cost_usd, user_tokens, "
    "user_cost_usd FROM finops_dailyfeaturetotal",
    "SELECT tenant_id, day, user_id FROM finops_dailyactiveuser",
)


def refill(migration_name: str, snapshot_sql: tuple[str, ...], fills: dict[str, str]) -> Any:
    """The rows of ``snapshot_sql`` as the drain wrote them, and again after emptying the
    tables of ``fills`` and running their fill statements from the migration, as the owner,
    rolled back: (drained, filled), a set of rows per query."""
    migration = importlib.import_module(f"apps.finops.migrations.{migration_name}")

    def snapshot(conn: Any) -> list[set[tuple[Any, ...]]]:
        return [set(conn.execute(sql).fetchall()) for sql in snapshot_sql]

    database = str(connection.settings_dict["NAME"])
    with connect(settings.DATABASE_OWNER, database, autocommit=False) as conn:
        try:
            for table in migration.BACKFILL_TABLES:
                conn.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            drained = snapshot(conn)
            for table in fills:
                conn.execute(f"DELETE FROM {table}")
            for fill in fills.values():
                conn.execute(getattr(migration, fill))
            filled = snapshot(conn)
        finally:
            conn.rollback()
    return drained, filled


@pytest.mark.usefixtures("live_db")
def test_the_migration_fills_the_operator_totals_as_the_drain_keeps_them() -> None:
    """Migration 0003's backfill, run again (as the owner, rolled back) over every tenant's
    daily rollups, gives exactly the rows the drain wrote."""
    tenant = new_tenant("Backfilled Books")
    every_kind_of_row(tenant)
    late_id = record(tenant.id, user_id=owner_of(tenant.id).user_id, feature="late")
    with tenant_context(tenant.id):
        UsageRecord.objects.filter(id=late_id).update(
            created_at=datetime.now(UTC) - timedelta(days=3)
        )
    rollups.drain()
    drained, filled = refill(
        "0003_operator_daily_totals",
        OPERATOR_SNAPSHOT,
        {"finops_dailyfeaturetotal": "FILL_FEATURES", "finops_dailyactiveuser": "FILL_USERS"},
    )
    mine = [{row for row in rows if row[0] == tenant.id} for rows in drained]
    # Features chat, api_chat, batch_summary today and late three days ago; the owner on
    # both days.
    assert [len(rows) for rows in mine] == [4, 2]
    assert filled == drained
    connection.close()


TENANT_SNAPSHOT = (
    "SELECT tenant_id, day, calls, tokens_in, tokens_out, cost_usd, user_tokens, "
    "user_cost_usd, user_days FROM finops_dailytenanttotal",
    "SELECT tenant_id, month, user_id, first_day FROM finops_monthlyactiveuser",
    "SELECT tenant_id, month, feature, calls, tokens_in, tokens_out, cost_usd "
    "FROM finops_monthlyfeaturetotal",
)


@pytest.mark.usefixtures("live_db")
def test_the_migration_fills_tenant_days_and_month_users_as_the_drain_keeps_them() -> None:
    """Migration 0004's backfill from 0003's tables, run again (as the owner, rolled
    back), gives exactly the rows the drain wrote: per tenant-day, per month and feature,
    and per month-user with the first day, over two months or more."""
    tenant = new_tenant("Monthly Books")
    user_id = owner_of(tenant.id).user_id
    every_kind_of_row(tenant)
    now = datetime.now(UTC)
    for days_ago in (3, 40, 41):
        row_id = record(tenant.id, user_id=user_id, feature="late")
        with tenant_context(tenant.id):
            UsageRecord.objects.filter(id=row_id).update(created_at=now - timedelta(days=days_ago))
    rollups.drain()
    drained, filled = refill(
        "0004_tenant_day_totals",
        TENANT_SNAPSHOT,
        {
            "finops_dailytenanttotal": "FILL_TENANT_DAYS",
            "finops_monthlyactiveuser": "FILL_MONTH_USERS",
            "finops_monthlyfeaturetotal": "FILL_MONTH_FEATURES",
        },
    )
    days, users, _ = ({row for row in rows if row[0] == tenant.id} for rows in drained)
    assert len(days) == 4  # today, 3, 40 and 41 days ago
    months = {(now - timedelta(days=n)).strftime("%Y-%m") for n in (0, 3, 40, 41)}
    assert len(users) == len(months)
    assert filled == drained
    assert_rollups_match(tenant.id)
    connection.close()
