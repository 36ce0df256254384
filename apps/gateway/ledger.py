"""Step 7: the usage ledger. One UsageRecord per provider call or cache hit.

A row, its semantic-cache hit and its meter outbox entry are written together, in one
database round trip when no transaction is open: one INSERT statement, its own
transaction, whose tenant context is set by the statement itself (``set_config`` in the
``tenant_id`` values, evaluated before row-level security checks each row). Inside a
caller's transaction the rows go through ``tenant_context`` like any other write, so the
setting cannot outlive the block.

The gateway's calls from async code do not write here on the response path: they append
the entry to a Redis journal (apps/gateway/journal.py), whose writers insert the same
rows in batches (``insert_batch``: one statement per tenant, idempotent).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Field, Model, Q
from django.utils import timezone

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


def insert_statement(row: UsageRecord, dependants: list[Model]) -> tuple[str, list[Any]]:
    """The statement that inserts ``row`` and ``dependants`` and returns the row's id."""
    # Table and column names come from the models' metadata, every value is a parameter.
    columns, values, params = _insert_parts(row, cast=False)
    sql = [
        f"WITH ledger AS (INSERT INTO {_table(row)} ({columns}) "  # noqa: S608
        f"VALUES ({values}) RETURNING id)"
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


def _insert_parts(instance: Model, *, cast: bool) -> tuple[str, str, list[Any]]:
    """Columns, placeholders and parameters to insert ``instance`` as ``save`` would
    (defaults, ``auto_now`` timestamps, database conversions), database-generated keys
    left out. The ``tenant_id`` value sets the tenant context before the row is checked.
    ``cast``: typed placeholders, for an ``INSERT … SELECT``."""
    # The thread's connection, looked up once: ``connection`` is a proxy that finds it
    # again on every attribute read, most of this function's time when used below.
    conn = connections[DEFAULT_DB_ALIAS]
    columns, placeholders, params = [], [], []
    for field in instance._meta.concrete_fields:
        if _serial(field):
            continue
        value = field.get_db_prep_save(field.pre_save(instance, True), conn)
        if hasattr(value, "as_sql"):
            continue  # a field left to its database default
        placeholder = f"%s::{field.db_type(conn)}" if cast else "%s"
        if field.column == "tenant_id":
            placeholder = "set_config(%s, %s, true)::uuid"
            params.append(TENANT_SETTING)
            value = str(value)
        columns.append(conn.ops.quote_name(field.column))
        placeholders.append(placeholder)
        params.append(value)
    return ", ".join(columns), ", ".join(placeholders), params


def _serial(field: Field[Any, Any]) -> bool:
    """The database makes the value (a serial key). Django also marks a field with a
    database default ``db_returning``, but a value given for one (``batch``) is written."""
    return bool(getattr(field, "db_returning", False)) and not field.has_db_default()  # type: ignore[attr-defined]  # django-stubs lack it (Django 5.0+)


async def record_now(entry: LedgerEntry) -> uuid.UUID:
    """``record_sync`` from async code (the synchronous path, GATEWAY_LEDGER_JOURNAL off)."""
    return await sync_to_async(record_sync)(entry)


# The journal's batches ------------------------------------------------------------------
#
# The journal's writer inserts many rows at once on a thread beside the event loop, so
# its Python holds the GIL the loop waits for. Building one statement per row through the
# models (``insert_statement``: an instance, each field's conversion) cost ~0.3 ms a row;
# here a tenant's rows are one statement whose values are arrays, one per column
# (``unnest``), read straight from the entries, and its text is built once per process.
#
# Each statement holds one tenant's rows: its ``tenant_id`` sets the tenant context for
# row-level security, and the FinOps trigger, a statement-level one, queues the
# statement's rows inside that context. The dependants (outbox entry, semantic hit) read
# the insert's RETURNING: a row already there (``ON CONFLICT (id) DO NOTHING``) returns
# nothing, so its dependants are not written again.

# The ledger row's columns given per row, in the order of ``_record_values``; with the
# tenant's (one per statement) and ``updated_at`` (the row's ``created_at``) that is
# every column. ``_batch_statement`` checks this against the model.
_RECORD_COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "api_key_id",
    "feature",
    "request_id",
    "requested_model",
    "served_model",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "cache",
    "saved_cost_usd",
    "status",
    "error_code",
    "latency_ms",
    "ttft_ms",
    "batch",
)
_OUTBOX_COLUMNS = ("usage_record_id", "tokens")
_HIT_COLUMNS = ("id", "usage_record_id", "entry_id", "cached_query", "query", "similarity")
# A new hit's columns that no call sets (a user's report fills them later).
_HIT_UNSET = {"reported_at": "NULL", "reported_by_id": "NULL", "reported_via": "''", "note": "''"}


def _record_values(row_id: uuid.UUID, created_at: datetime, entry: LedgerEntry) -> tuple[Any, ...]:
    ctx = entry.ctx
    return (
        row_id,
        created_at,
        ctx.user_id,
        ctx.api_key_id,
        ctx.feature,
        ctx.request_id,
        entry.requested_model,
        entry.served_model,
        entry.tokens_in,
        entry.tokens_out,
        entry.cost_usd,
        entry.cache,
        entry.saved_cost_usd,
        entry.status,
        entry.error_code,
        entry.latency_ms,
        entry.ttft_ms,
        entry.batch,
    )


def _arrays(model: type[Model], alias: str, columns: tuple[str, ...]) -> tuple[str, str]:
    """``unnest`` of one typed array parameter per column, and the alias's column list."""
    conn = connections[DEFAULT_DB_ALIAS]
    fields = {field.column: field for field in model._meta.concrete_fields}
    types = ", ".join(f"%b::{fields[c].db_type(conn)}[]" for c in columns)
    names = ", ".join(conn.ops.quote_name(c) for c in columns)
    return f"unnest({types}) AS {alias}({names})", names


def _check_columns(model: type[Model], given: set[str]) -> None:
    """A column added to ``model`` must be added to the batch statement too: without it,
    the batches would write rows unlike ``record_sync``'s."""
    columns = {f.column for f in model._meta.concrete_fields if not _serial(f)}
    if columns != given:
        raise RuntimeError(
            f"the ledger's batch statement does not match {model.__name__}: add "
            f"{sorted(columns - given)} / drop {sorted(given - columns)} in apps/gateway/ledger.py"
        )


@functools.cache  # the same text every time: built once per process
def _batch_statement() -> str:
    """The statement that inserts one tenant's rows and their dependants; its parameters
    are ``_batch_params``'s."""
    _check_columns(UsageRecord, {"tenant_id", "updated_at", *_RECORD_COLUMNS})
    _check_columns(UsageOutbox, {"tenant_id", "created_at", *_OUTBOX_COLUMNS})
    _check_columns(
        SemanticCacheHit, {"tenant_id", "created_at", "updated_at", *_HIT_COLUMNS, *_HIT_UNSET}
    )
    quote = connection.ops.quote_name
    tenant = "set_config(%s, %s, true)::uuid"  # the context first, then the row's checks
    records, record_names = _arrays(UsageRecord, "r", _RECORD_COLUMNS)
    outbox, _ = _arrays(UsageOutbox, "o", _OUTBOX_COLUMNS)
    hits, hit_names = _arrays(SemanticCacheHit, "h", _HIT_COLUMNS)
    record_values = ", ".join(f"r.{quote(c)}" for c in _RECORD_COLUMNS)
    hit_values = ", ".join(f"h.{quote(c)}" for c in _HIT_COLUMNS)
    unset_names = ", ".join(quote(c) for c in _HIT_UNSET)
    return (
        f"WITH ledger AS (INSERT INTO {quote(UsageRecord._meta.db_table)} "  # noqa: S608
        f"(tenant_id, updated_at, {record_names}) "
        f"SELECT {tenant}, r.created_at, {record_values} FROM {records} "
        "ON CONFLICT (id) DO NOTHING RETURNING id), "
        f"outbox AS (INSERT INTO {quote(UsageOutbox._meta.db_table)} "
        "(tenant_id, created_at, usage_record_id, tokens) "
        f"SELECT {tenant}, %s::timestamptz, o.usage_record_id, o.tokens FROM {outbox} "
        "JOIN ledger ON ledger.id = o.usage_record_id), "
        f"hits AS (INSERT INTO {quote(SemanticCacheHit._meta.db_table)} "
        f"(tenant_id, created_at, updated_at, {hit_names}, {unset_names}) "
        f"SELECT {tenant}, %s::timestamptz, %s::timestamptz, {hit_values}, "
        f"{', '.join(_HIT_UNSET.values())} FROM {hits} "
        "JOIN ledger ON ledger.id = h.usage_record_id) "
        "SELECT count(*) FROM ledger"
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _batch_params(
    tenant_id: str, entries: list[tuple[uuid.UUID, datetime, LedgerEntry]], now: datetime
) -> list[Any]:
    records, outbox, hits = [], [], []
    for row_id, created_at, entry in entries:
        records.append(_record_values(row_id, created_at, entry))
        tokens = billable_tokens(entry)
        if tokens:
            outbox.append((row_id, tokens))
        hit = entry.semantic_hit
        if hit is not None:
            hits.append(
                (uuid.uuid4(), row_id, hit.entry_id, hit.query, hit.question, hit.similarity)
            )
    context = [TENANT_SETTING, tenant_id]
    return [
        *context,
        *_columns(records, len(_RECORD_COLUMNS)),
        *context,
        now,
        *_columns(outbox, len(_OUTBOX_COLUMNS)),
        *context,
        now,
        now,
        *_columns(hits, len(_HIT_COLUMNS)),
    ]


def insert_batch(entries: list[tuple[uuid.UUID, datetime, LedgerEntry]]) -> int:
    """Insert journaled ``entries`` (row id, time, entry) and their dependants, each row at
    most once (an id already there is left alone, and so are its dependants), one
    statement per tenant, all or nothing. Returns the rows inserted."""
    by_tenant: dict[str, dict[uuid.UUID, tuple[uuid.UUID, datetime, LedgerEntry]]] = {}
    for item in entries:
        # An id twice in one batch is one row (and one outbox entry, one hit).
        by_tenant.setdefault(str(item[2].ctx.tenant_id), {})[item[0]] = item
    sql, now, written = _batch_statement(), timezone.now(), 0
    # One tenant's statement is a transaction by itself: BEGIN and COMMIT are two round
    # trips (and Django's atomic block its Python) that only several statements need.
    with transaction.atomic() if len(by_tenant) > 1 else contextlib.nullcontext():
        connection.ensure_connection()
        # psycopg's own cursor: the parameters bound by the server, the arrays encoded by
        # psycopg's binary dumpers, not quoted into the text by Django's client-side cursor.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            for tenant_id, rows_of_tenant in by_tenant.items():
                cursor.execute(sql, _batch_params(tenant_id, list(rows_of_tenant.values()), now))
                (count,) = cursor.fetchone() or (0,)
                written += count
    return written
