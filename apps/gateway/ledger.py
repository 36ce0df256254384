"""Step 7: the usage ledger. One UsageRecord per provider call or cache hit.

A row, its semantic-cache hit and its meter outbox entry are written together, in one
database round trip when no transaction is open: one INSERT statement, its own
transaction, whose tenant context is set by the statement itself (``set_config`` in the
``tenant_id`` values, evaluated before row-level security checks each row). Inside a
caller's transaction the rows go through ``tenant_context`` like any other write, so the
setting cannot outlive the block.

The gateway's calls from async code do not write here on the response path: they append
the entry to a Redis journal (apps/gateway/journal.py), whose writers insert the same
statement, made idempotent (``ON CONFLICT (id) DO NOTHING``), in batches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model, Q

from apps.core.db import TENANT_SETTING, tenant_context
from apps.core.metrics import observe_gateway_call
from apps.gateway.models import CallStatus, SemanticCacheHit, UsageOutbox, UsageRecord
from apps.gateway.semantic_cache import SemanticHit
from apps.gateway.types import CallContext


@dataclass
class LedgerEntry:
    ctx: CallContext
    requested_model: str
    served_model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    cache: str = ""
    saved_cost_usd: Decimal = Decimal(0)
    status: str = CallStatus.OK
    error_code: str = ""
    latency_ms: int = 0
    ttft_ms: int | None = None
    # A semantic-cache hit: which entry answered which question (kept for reports).
    semantic_hit: SemanticHit | None = None
    batch: bool = False  # answered through a provider's Batch API


# billable_tokens' rule for queries over ledger rows (billing's usage figures).
BILLABLE_ROWS = Q(cache="") & ~Q(status=CallStatus.ERROR)


def billable_tokens(entry: LedgerEntry) -> int:
    """Tokens the tenant is billed for: what a provider processed for it. Cache hits
    (served without a provider) and refusals bill nothing; an aborted or cut stream
    bills the tokens it really used."""
    if entry.cache or entry.status == CallStatus.ERROR:
        return 0
    return entry.tokens_in + entry.tokens_out


def rows(entry: LedgerEntry, *, row_id: uuid.UUID | None = None) -> tuple[UsageRecord, list[Model]]:
    """The ledger row and what goes with it (its semantic hit, its outbox entry).
    ``row_id``: the row's key when it was made before (a journaled entry's)."""
    ctx = entry.ctx
    row = UsageRecord(
        id=row_id or uuid.uuid4(),
        tenant_id=ctx.tenant_id,
        user_id=ctx.user_id,
        api_key_id=ctx.api_key_id,
        feature=ctx.feature,
        request_id=ctx.request_id,
        requested_model=entry.requested_model,
        served_model=entry.served_model,
        tokens_in=entry.tokens_in,
        tokens_out=entry.tokens_out,
        cost_usd=entry.cost_usd,
        cache=entry.cache,
        saved_cost_usd=entry.saved_cost_usd,
        status=entry.status,
        error_code=entry.error_code,
        latency_ms=entry.latency_ms,
        ttft_ms=entry.ttft_ms,
        batch=entry.batch,
    )
    dependants: list[Model] = []
    hit = entry.semantic_hit
    if hit is not None:
        dependants.append(
            SemanticCacheHit(
                tenant_id=ctx.tenant_id,
                usage_record=row,
                entry_id=hit.entry_id,
                cached_query=hit.query,
                query=hit.question,
                similarity=hit.similarity,
            )
        )
    tokens = billable_tokens(entry)
    if tokens:
        dependants.append(UsageOutbox(tenant_id=ctx.tenant_id, usage_record=row, tokens=tokens))
    return row, dependants


def record_sync(entry: LedgerEntry) -> uuid.UUID:
    """The ledger row, and in the same transaction its outbox entry when it is billable."""
    row, dependants = rows(entry)
    if not connection.in_atomic_block:
        row_id = _insert_in_one_statement(row, dependants)
    else:
        with tenant_context(entry.ctx.tenant_id):
            row.save(force_insert=True)
            for dependant in dependants:
                dependant.save(force_insert=True)
        row_id = row.id
    observe(entry)
    return row_id


def observe(entry: LedgerEntry) -> None:
    """The row in the Prometheus counters (apps/core/metrics.py), once it is written."""
    observe_gateway_call(
        model=entry.served_model or entry.requested_model,
        cache=entry.cache,
        status=entry.status,
        latency_ms=entry.latency_ms,
        tokens_in=entry.tokens_in,
        tokens_out=entry.tokens_out,
        cost_usd=entry.cost_usd,
        saved_usd=entry.saved_cost_usd,
    )


def _insert_in_one_statement(row: UsageRecord, dependants: list[Model]) -> uuid.UUID:
    """``row`` and ``dependants`` in one statement: the row's INSERT as a CTE, each
    dependant's INSERT reading from it (so it runs after the row exists)."""
    sql, params = insert_statement(row, dependants)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (row_id,) = cursor.fetchone()
    return uuid.UUID(str(row_id))


def insert_statement(
    row: UsageRecord,
    dependants: list[Model],
    *,
    created_at: datetime | None = None,
    idempotent: bool = False,
) -> tuple[str, list[Any]]:
    """The statement that inserts ``row`` and ``dependants`` and returns the row's id.
    ``created_at``: the row's time, when it is not now (a journaled call's).
    ``idempotent``: a row whose id is already there is left alone, and so are its
    dependants (their INSERTs read the row's RETURNING, empty then): written once."""
    # Table and column names come from the models' metadata, every value is a parameter.
    columns, values, params = _insert_parts(row, cast=False, created_at=created_at)
    conflict = " ON CONFLICT (id) DO NOTHING" if idempotent else ""
    sql = [
        f"WITH ledger AS (INSERT INTO {_table(row)} ({columns}) "  # noqa: S608
        f"VALUES ({values}){conflict} RETURNING id)"
    ]
    for n, dependant in enumerate(dependants):
        d_columns, d_values, d_params = _insert_parts(dependant, cast=True)
        sql.append(
            f", dependant_{n} AS (INSERT INTO {_table(dependant)} ({d_columns}) "  # noqa: S608
            f"SELECT {d_values} FROM ledger)"
        )
        params += d_params
    sql.append(" SELECT id FROM ledger")
    return "".join(sql), params


def _table(instance: Model) -> str:
    return connection.ops.quote_name(instance._meta.db_table)


def _insert_parts(
    instance: Model, *, cast: bool, created_at: datetime | None = None
) -> tuple[str, str, list[Any]]:
    """Columns, placeholders and parameters to insert ``instance`` as ``save`` would
    (defaults, ``auto_now`` timestamps, database conversions), database-generated keys
    left out. The ``tenant_id`` value sets the tenant context before the row is checked.
    ``cast``: typed placeholders, for an ``INSERT … SELECT``. ``created_at``: the
    timestamps' value instead of now."""
    # The thread's connection, looked up once: ``connection`` is a proxy that finds it
    # again on every attribute read, most of this function's time when used below.
    conn = connections[DEFAULT_DB_ALIAS]
    columns, placeholders, params = [], [], []
    for field in instance._meta.concrete_fields:
        if getattr(field, "db_returning", False):
            continue  # the database makes it (a serial key)
        if created_at is not None and field.attname in ("created_at", "updated_at"):
            setattr(instance, field.attname, created_at)
            value = field.get_db_prep_save(created_at, conn)
        else:
            value = field.get_db_prep_save(field.pre_save(instance, True), conn)
        placeholder = f"%s::{field.db_type(conn)}" if cast else "%s"
        if field.column == "tenant_id":
            placeholder = "set_config(%s, %s, true)::uuid"
            params.append(TENANT_SETTING)
            value = str(value)
        columns.append(conn.ops.quote_name(field.column))
        placeholders.append(placeholder)
        params.append(value)
    return ", ".join(columns), ", ".join(placeholders), params


async def record_now(entry: LedgerEntry) -> uuid.UUID:
    """``record_sync`` from async code (the synchronous path, GATEWAY_LEDGER_JOURNAL off)."""
    return await sync_to_async(record_sync)(entry)
