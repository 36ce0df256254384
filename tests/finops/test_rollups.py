"""Rollups equal the raw ledger (apps/finops/rollups.py): for every kind of row, after
writes and drains that run at the same time, and after a row that commits late."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, NullIf, Trunc

from apps.core.db import tenant_context
from apps.finops import rollups
from apps.finops.models import PendingUsage, UsageRollup
from apps.gateway.models import CacheKind, CallStatus, UsageRecord
from apps.tenants.models import Tenant
from tests.conftest import owner_of
from tests.finops.conftest import FAST, SMART, new_tenant, record

Totals = dict[tuple[Any, ...], tuple[Any, ...]]
BATCH = Q(requested_model=F("served_model"))


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
                batch=Count("id", filter=BATCH),
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
                r["batch"],
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


def assert_rollups_match(tenant_id: uuid.UUID) -> None:
    for period in ("hour", "day"):
        expected = ledger_totals(tenant_id, period)
        assert expected, "the test wrote no ledger rows"
        assert rollup_totals(tenant_id, period) == expected


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
    # A Batch API item: its requested model is the model string, not an alias.
    record(tenant.id, feature="batch_summary", requested_model=FAST,
           cost_usd=Decimal("0.00002250"))  # fmt: skip


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
    assert report.rows >= 21
    assert_rollups_match(tenant.id)
    assert_rollups_match(other.id)
    with tenant_context(tenant.id):
        daily = UsageRollup.objects.filter(tenant=tenant, period="day")
        assert daily.aggregate(n=Sum("calls"))["n"] == 11
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
            late_id.append(record(tenant.id, feature="late", tokens_in=999))
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
