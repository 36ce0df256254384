"""The ledger journal (apps/gateway/journal.py): a call's entry goes to a Redis stream
with its settlement and reaches PostgreSQL through the process's writer or the drain,
as the same rows the synchronous write makes, exactly once, with nothing lost when the
process dies between the append and the insert."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from redis.client import Pipeline as SyncPipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.core.db import tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.finops.models import PendingUsage
from apps.gateway import api, budget, journal
from apps.gateway import ledger as ledger_module
from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.models import (
    AISettings,
    SemanticCacheHit,
    UsageOutbox,
    UsageRecord,
)
from apps.gateway.types import CallContext
from apps.tenants.models import Notification, Tenant
from tests.gateway.conftest import FAST
from tests.gateway.test_ledger import described, entry, new_tenant, semantic_hit_entry
from tests.gateway.test_limits_and_budgets import limits

QUESTION = [{"role": "user", "content": "Summarise our refund policy."}]
# What differs between two runs of the same call: how long it took.
TIMINGS = ("latency_ms", "ttft_ms")


@pytest.fixture(autouse=True)
def _journal_on(live_db: None) -> Iterator[None]:
    """The journal on, its writer done before the database closes again."""
    with override_settings(GATEWAY_LEDGER_JOURNAL=True):
        yield
        assert journal.wait_written(10)


def journal_ids() -> set[bytes]:
    return {stream_id for stream_id, _ in sync_redis().xrange(journal.JOURNAL)}


def ledger_of(tenant: Tenant) -> list[UsageRecord]:
    with tenant_context(tenant.id):
        return list(UsageRecord.objects.filter(tenant=tenant).order_by("created_at"))


def without_timings(row: UsageRecord) -> dict[str, Any]:
    return {k: v for k, v in described(row).items() if k not in (*TIMINGS, "tenant_id")}


def caches_off(name: str) -> Tenant:
    tenant = new_tenant(name)
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(tenant=tenant, defaults={"cache_enabled": False})
    return tenant


def complete(tenant: Tenant) -> uuid.UUID:
    ctx = CallContext(tenant_id=tenant.id, feature="batch_summary", request_id="journal")
    return api.complete_sync(ctx, QUESTION, extra_headers=FAST).usage_record_ids[0]


def test_a_journaled_call_writes_the_rows_the_synchronous_path_writes() -> None:
    journaled, synchronous = caches_off("Journal On"), caches_off("Journal Off")
    row_id = complete(journaled)
    assert journal.wait_written(10)
    with override_settings(GATEWAY_LEDGER_JOURNAL=False):
        sync_id = complete(synchronous)
    (row,), (sync_row,) = ledger_of(journaled), ledger_of(synchronous)
    assert row.id == row_id
    assert sync_row.id == sync_id
    assert without_timings(row) == without_timings(sync_row)
    assert row.tokens_out > 0
    for tenant, rid in ((journaled, row_id), (synchronous, sync_id)):
        with tenant_context(tenant.id):
            assert UsageOutbox.objects.get(usage_record_id=rid).tokens == (
                row.tokens_in + row.tokens_out
            )
            # The FinOps queue is fed by the insert's trigger either way.
            assert PendingUsage.objects.filter(usage_record_id=rid).exists()
    # Written rows leave the journal.
    assert not journal_ids()


def test_a_semantic_hit_entry_round_trips_through_the_journal() -> None:
    tenant = new_tenant("Journal Hit")
    cached = semantic_hit_entry(tenant)
    hit = cached.semantic_hit
    assert hit is not None
    row_id = async_to_sync(journal.record)(cached)
    assert journal.wait_written(10)
    sync_id = record_sync(cached)
    with tenant_context(tenant.id):
        row, sync_row = (UsageRecord.objects.get(id=i) for i in (row_id, sync_id))
        saved = SemanticCacheHit.objects.get(usage_record_id=row_id)
        assert not UsageOutbox.objects.filter(usage_record_id=row_id).exists()
    assert described(row) == described(sync_row)
    assert (saved.entry_id, saved.query, saved.cached_query) == (
        hit.entry_id,
        hit.question,
        hit.query,
    )
    assert saved.similarity == pytest.approx(0.93)


def append_only(ledger_entry: LedgerEntry) -> tuple[uuid.UUID, bytes, bytes]:
    """What a process that dies right after the append leaves: the entry in the
    journal, never handed to a writer. Returns its row id, stream id and data."""
    journaled = journal.prepare(ledger_entry)

    async def append() -> bytes:
        return bytes(await get_redis().xadd(journal.JOURNAL, {"e": journaled.data}))

    return journaled.row_id, async_to_sync(append)(), journaled.data


def test_a_crash_between_the_append_and_the_insert_loses_nothing() -> None:
    tenant = new_tenant("Journal Crash")
    row_id, stream_id, _ = append_only(entry(tenant))
    assert not ledger_of(tenant)
    # The drain leaves young entries to their process's writer...
    journal.drain()
    assert stream_id in journal_ids()
    # ...and writes them once they are old enough (here: now).
    assert journal.drain(older_than_ms=0) >= 1
    (row,) = ledger_of(tenant)
    assert row.id == row_id
    assert stream_id not in journal_ids()
    with tenant_context(tenant.id):
        assert UsageOutbox.objects.get(usage_record_id=row_id).tokens == 42


def test_an_entry_written_twice_is_one_row_with_one_outbox_entry() -> None:
    tenant = new_tenant("Journal Twice")
    row_id, stream_id, data = append_only(entry(tenant))
    # The writer and the drain both took it (a slow writer, a drain at the same moment).
    assert journal.write([(stream_id, data)]) == 1
    assert journal.write([(stream_id, data)]) == 0
    assert [r.id for r in ledger_of(tenant)] == [row_id]
    with tenant_context(tenant.id):
        assert UsageOutbox.objects.filter(usage_record_id=row_id).count() == 1
        assert PendingUsage.objects.filter(usage_record_id=row_id).count() == 1


def test_an_entry_the_database_refuses_is_set_aside_and_the_rest_written() -> None:
    tenant = new_tenant("Journal Refused")
    good_id, good, good_data = append_only(entry(tenant))
    gone = CallContext(tenant_id=uuid.uuid4(), feature="chat")  # no such tenant
    _, bad, bad_data = append_only(LedgerEntry(ctx=gone, requested_model="fast"))
    dead_before = sync_redis().xlen(journal.DEAD)
    assert journal.write([(good, good_data), (bad, bad_data)]) == 1
    assert [r.id for r in ledger_of(tenant)] == [good_id]
    assert not {good, bad} & journal_ids()
    assert sync_redis().xlen(journal.DEAD) == dead_before + 1


def test_the_budget_seeded_from_the_ledger_counts_the_calls_still_in_the_journal() -> None:
    tenant = new_tenant("Journal Budget")
    append_only(entry(tenant, cost_usd=Decimal("0.25")))
    key = f"test:journal-budget:{tenant.id}"

    async def seed() -> bytes | None:
        await get_redis().delete(key)
        await budget.seed(key, str(tenant.id))
        return await get_redis().get(key)

    assert int(async_to_sync(seed)() or 0) == int(Decimal("0.25") * budget.NANO)


def test_the_settlement_and_the_entry_take_one_redis_round_trip_after_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = caches_off("Journal Round Trips")
    pipelines: list[tuple[str, list[str]]] = []
    execute = SyncPipeline.execute

    def counting(self: SyncPipeline[bytes], *args: Any, **kwargs: Any) -> Any:
        commands = [str(command[0][0]) for command in self.command_stack]
        pipelines.append((threading.current_thread().name, commands))
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(SyncPipeline, "execute", counting)
    row_id = complete(tenant)
    assert journal.wait_written(10)
    # The ledger entry went in the settlement's pipeline, not a round trip of its own,
    # sent by the settler's thread: the call did not wait for it.
    (settlement,) = [(thread, p) for thread, p in pipelines if "XADD" in p]
    assert settlement[0] == journal.SETTLER_THREAD
    assert "INCRBY" in settlement[1]
    assert [r.id for r in ledger_of(tenant)] == [row_id]


def test_calls_settled_while_redis_fails_are_written_to_the_database_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = caches_off("Journal Redis Down")

    def failing(self: SyncPipeline[bytes], *args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(SyncPipeline, "execute", failing)
    before = set(journal_ids())
    row_id = complete(tenant)
    assert journal.wait_written(10)
    assert [r.id for r in ledger_of(tenant)] == [row_id]
    assert set(journal_ids()) == before  # nothing reached the stream


UNLIMITED = {"tokens_per_day": 0, "requests_per_minute": 0}


@override_settings(GATEWAY_PLAN_OVERRIDES=limits(free=UNLIMITED, pro=UNLIMITED))
def test_the_settler_fires_each_budget_alert_once() -> None:
    # As in test_limits_and_budgets: a $0.01 budget passes 50% after about 12 smart calls
    # of 40 tokens, 80% after 19, is full after 23; here the alerts come from the
    # settler's thread, after the answers.
    tenant = new_tenant("Journal Alerts")
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant,
            defaults={
                "cache_enabled": False,
                "budget_action": "notify",
                "monthly_budget_usd": Decimal("0.01"),
                "model_alias": "smart",
                "max_tokens": 40,
            },
        )
    for _ in range(28):
        complete(tenant)
    assert journal.wait_written(10)
    with tenant_context(tenant.id):
        kinds = sorted(Notification.objects.filter(tenant=tenant).values_list("kind", flat=True))
    assert kinds == ["budget.100", "budget.50", "budget.80"]
    assert len(ledger_of(tenant)) == 28


def test_a_batch_of_two_tenants_writes_the_rows_the_synchronous_path_writes() -> None:
    first, second = new_tenant("Journal Batch A"), new_tenant("Journal Batch B")
    entries = [
        entry(first),
        entry(first, tokens_in=0, tokens_out=0, status="error", error_code="rate_limited"),
        semantic_hit_entry(first),
        entry(second, cost_usd=Decimal("0.123456789"), batch=True),  # rounded as a save rounds
        entry(second, ttft_ms=None, served_model=""),
    ]
    appended = [append_only(e) for e in entries]
    # The same entry twice in one batch (read by two writers) is one row.
    items: list[journal.Item] = [(sid, data) for _, sid, data in appended]
    items.append(items[0])
    assert journal.write(items) == len(entries)
    assert not {sid for _, sid, _ in appended} & journal_ids()
    for ledger_entry, (row_id, _, _) in zip(entries, appended, strict=True):
        sync_id = record_sync(ledger_entry)
        tenant_id = ledger_entry.ctx.tenant_id
        with tenant_context(tenant_id):
            row, sync_row = (UsageRecord.objects.get(id=i) for i in (row_id, sync_id))
            outbox = list(UsageOutbox.objects.filter(usage_record_id=row_id).values_list("tokens"))
            sync_outbox = list(
                UsageOutbox.objects.filter(usage_record_id=sync_id).values_list("tokens")
            )
            hits = list(
                SemanticCacheHit.objects.filter(usage_record_id=row_id).values_list(
                    "entry_id", "query", "cached_query", "similarity", "reported_via", "note"
                )
            )
            sync_hits = list(
                SemanticCacheHit.objects.filter(usage_record_id=sync_id).values_list(
                    "entry_id", "query", "cached_query", "similarity", "reported_via", "note"
                )
            )
            queued = PendingUsage.objects.filter(usage_record_id=row_id).count()
        assert described(row) == described(sync_row)
        # Both write the Batch API flag (the one-statement write used to leave it out).
        assert row.batch == sync_row.batch == ledger_entry.batch
        assert row.updated_at == row.created_at
        assert outbox == sync_outbox
        assert hits == sync_hits
        assert queued == 1  # the FinOps trigger queued it in its tenant's context
    assert len(ledger_of(first)) == 3 * 2
    assert len(ledger_of(second)) == 2 * 2


def test_a_crash_between_the_insert_and_the_delete_leaves_one_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = new_tenant("Journal Insert Crash")
    row_id, stream_id, data = append_only(entry(tenant))

    def dying(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("the process died before the XDEL")

    with monkeypatch.context() as patched:
        patched.setattr(type(sync_redis()), "xdel", dying)
        with pytest.raises(RedisConnectionError):
            journal.write([(stream_id, data)])
    # The row is committed and the entry still in the journal: the drain takes it again,
    # writes no second row, and deletes it.
    assert stream_id in journal_ids()
    assert journal.write([(stream_id, data)]) == 0
    assert stream_id not in journal_ids()
    assert [r.id for r in ledger_of(tenant)] == [row_id]
    with tenant_context(tenant.id):
        assert UsageOutbox.objects.filter(usage_record_id=row_id).count() == 1
        assert PendingUsage.objects.filter(usage_record_id=row_id).count() == 1


def test_a_column_the_batch_statement_does_not_write_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="add \\['batch'\\]"):
        ledger_module._check_columns(
            UsageRecord, {"tenant_id", "updated_at", *ledger_module._RECORD_COLUMNS} - {"batch"}
        )
