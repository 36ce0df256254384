"""The ledger off the response path: a durable journal in Redis, written to PostgreSQL
in batches (docs/gateway.md, "The ledger journal").

A gateway call's ledger entry is appended to the Redis stream ``JOURNAL`` in the same
pipelined round trip as the settlement of its limits and budget (``admission.settle``),
or alone for a refusal or an embedding; its row id is made here, so the caller still
gets it. Two writers insert the entries (``ledger.insert_statement``, idempotent:
``INSERT … ON CONFLICT (id) DO NOTHING``, a row and its dependants at once) and then
delete them from the stream:

- the process's writer thread, handed each entry as it is appended: rows land a few
  milliseconds after the response, many entries to a transaction under load;
- ``drain`` (Celery beat, ``apps.gateway.tasks.ledger_drain``): entries older than
  ``DRAIN_AFTER_MS``, which only a crashed or stopped process leaves behind.

Both may write the same entry (a slow writer, a drain at the same moment): the id is
the row's key, so it is written once, and its outbox entry, semantic hit and FinOps
queue row (a trigger on the insert) with it. An entry is deleted from the stream only
once its row is committed. ``GATEWAY_LEDGER_JOURNAL=0`` keeps the synchronous write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from apps.core.redis_client import get_redis, sync_redis
from apps.gateway import ledger
from apps.gateway.ledger import LedgerEntry
from apps.gateway.semantic_cache import SemanticHit
from apps.gateway.types import CallContext

logger = logging.getLogger(__name__)

JOURNAL = "gateway:ledger:journal"
# Entries that could not be written even alone (a tenant deleted meanwhile): kept for
# an operator, out of the writers' way.
DEAD = "gateway:ledger:dead"
# The drain leaves younger entries to the writer thread of the process that made them.
DRAIN_AFTER_MS = 10_000
BATCH = 500  # most entries in one transaction
WRITER_THREAD = "ledger-journal"


def enabled() -> bool:
    return bool(settings.GATEWAY_LEDGER_JOURNAL)


@dataclass(frozen=True)
class Journaled:
    """An entry ready to append: its row id and time, and its serialised form."""

    row_id: uuid.UUID
    created_at: datetime
    data: bytes
    entry: LedgerEntry


def prepare(entry: LedgerEntry) -> Journaled:
    """The entry with its row id and time made now (the row's ``created_at`` is the
    call's end, not the write's)."""
    row_id, created_at = uuid.uuid4(), datetime.now(UTC)
    ctx, hit = entry.ctx, entry.semantic_hit
    data = {
        "id": str(row_id),
        "at": created_at.isoformat(),
        "tenant": str(ctx.tenant_id),
        "user": ctx.user_id,
        "api_key": None if ctx.api_key_id is None else str(ctx.api_key_id),
        "feature": ctx.feature,
        "request": ctx.request_id,
        "requested": entry.requested_model,
        "served": entry.served_model,
        "in": entry.tokens_in,
        "out": entry.tokens_out,
        "cost": str(entry.cost_usd),
        "cache": entry.cache,
        "saved": str(entry.saved_cost_usd),
        "status": entry.status,
        "error": entry.error_code,
        "latency": entry.latency_ms,
        "ttft": entry.ttft_ms,
        "batch": entry.batch,
        "hit": None
        if hit is None
        else {
            "entry": str(hit.entry_id),
            "query": hit.query,
            "question": hit.question,
            "similarity": hit.similarity,
        },
    }
    return Journaled(row_id, created_at, orjson.dumps(data), entry)


def _entry(data: dict[str, Any]) -> tuple[uuid.UUID, datetime, LedgerEntry]:
    hit = data["hit"]
    entry = LedgerEntry(
        ctx=CallContext(
            tenant_id=data["tenant"],
            feature=data["feature"],
            user_id=data["user"],
            api_key_id=None if data["api_key"] is None else uuid.UUID(data["api_key"]),
            request_id=data["request"],
        ),
        requested_model=data["requested"],
        served_model=data["served"],
        tokens_in=data["in"],
        tokens_out=data["out"],
        cost_usd=Decimal(data["cost"]),
        cache=data["cache"],
        saved_cost_usd=Decimal(data["saved"]),
        status=data["status"],
        error_code=data["error"],
        latency_ms=data["latency"],
        ttft_ms=data["ttft"],
        batch=data.get("batch", False),
        # Only what the ledger keeps of the hit (its row in SemanticCacheHit).
        semantic_hit=None
        if hit is None
        else SemanticHit(
            entry_id=uuid.UUID(hit["entry"]),
            question=hit["question"],
            query=hit["query"],
            response="",
            served_model="",
            tokens_in=0,
            tokens_out=0,
            cost_usd=Decimal(0),
            similarity=hit["similarity"],
            score=hit["similarity"],
        ),
    )
    return uuid.UUID(data["id"]), datetime.fromisoformat(data["at"]), entry


async def record(entry: LedgerEntry) -> uuid.UUID:
    """The entry's ledger row: journaled (one Redis round trip, the row a few
    milliseconds later) or, with the journal off, written now."""
    if not enabled():
        return await ledger.record_now(entry)
    journaled = prepare(entry)
    stream_id = await get_redis().xadd(JOURNAL, {"e": journaled.data})
    appended(journaled, stream_id)
    return journaled.row_id


def appended(journaled: Journaled, stream_id: bytes) -> None:
    """``journaled`` is in the stream as ``stream_id``: hand it to the process's writer."""
    ledger.observe(journaled.entry)
    _writer().submit(stream_id, journaled)


# Writing ------------------------------------------------------------------------------


# A journal entry to write: its stream id and either its serialised form (read back from
# the stream by the drain) or, in the process that appended it, the entry itself.
Item = tuple[bytes, "bytes | Journaled"]


def _parsed(payload: bytes | Journaled) -> tuple[uuid.UUID, datetime, LedgerEntry]:
    if isinstance(payload, Journaled):
        return payload.row_id, payload.created_at, payload.entry
    return _entry(orjson.loads(payload))


def write(items: list[Item]) -> int:
    """Insert the rows of journal ``items`` (stream id, data) in one transaction, each
    at most once, then delete them from the stream. When the batch breaks a constraint
    (a tenant deleted meanwhile), its entries are written one by one and the ones that
    break it alone move to ``DEAD``. Any other failure (the database is down) raises
    with the entries left in the journal. Returns the rows written."""
    if not items:
        return 0
    try:
        written = _insert(items)
    except (IntegrityError, DataError):
        logger.exception("ledger journal batch refused: writing its entries one by one")
        written = 0
        for item in items:
            try:
                written += _insert([item])
            except (IntegrityError, DataError):
                logger.exception("ledger journal entry refused: moved to %s", DEAD)
                payload = item[1]
                data = payload.data if isinstance(payload, Journaled) else payload
                sync_redis().xadd(DEAD, {"e": data})
    sync_redis().xdel(JOURNAL, *[stream_id for stream_id, _ in items])
    return written


def _insert(items: list[Item]) -> int:
    # One statement per row (each sets its own tenant context for row-level security
    # and the FinOps trigger), as many at once as share a shape, in one transaction.
    statements: defaultdict[str, list[list[Any]]] = defaultdict(list)
    for _, payload in items:
        row_id, created_at, entry = _parsed(payload)
        row, dependants = ledger.rows(entry, row_id=row_id)
        sql, params = ledger.insert_statement(
            row, dependants, created_at=created_at, idempotent=True
        )
        statements[sql].append(params)
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params_list in statements.items():
            cursor.executemany(sql, params_list)
            written += max(cursor.rowcount, 0)
    return written


def drain(older_than_ms: int = DRAIN_AFTER_MS) -> int:
    """Write the entries appended more than ``older_than_ms`` ago (0: every entry) and
    delete them. Safe beside the writers: an entry written twice is one row."""
    redis = sync_redis()
    until = f"{int(time.time() * 1000) - older_than_ms}" if older_than_ms else "+"
    written = 0
    while True:
        items = redis.xrange(JOURNAL, "-", until, count=BATCH)
        if not items:
            return written
        written += write([(stream_id, fields[b"e"]) for stream_id, fields in items])
        if len(items) < BATCH:
            return written


# The process's writer -------------------------------------------------------------------


class _Writer:
    """A thread that writes what this process appended, batching what arrives while it
    writes. Process-wide (not per event loop): a loop may end with its request
    (``async_to_sync``), an entry handed over must still be written."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        # No lock on the event loop's path. The counters only serve ``wait``: the writer
        # alone counts what it finished; a process's calls run on its event loop's
        # thread (two loops in two threads appending at once could miss a count, and
        # ``wait`` would return early, never late).
        self._submitted = 0
        self._finished = 0
        self._thread = threading.Thread(target=self._run, name=WRITER_THREAD, daemon=True)
        self._thread.start()

    def submit(self, stream_id: bytes, journaled: Journaled) -> None:
        self._submitted += 1
        self._items.put((stream_id, journaled))

    def wait(self, timeout: float) -> bool:
        """Until everything submitted so far is written (or failed); False on timeout."""
        target, deadline = self._submitted, time.monotonic() + timeout
        while self._finished < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _run(self) -> None:
        while True:
            batch = [self._items.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._items.get_nowait())
                except queue.Empty:
                    break
            try:
                write(batch)
                connection.close_if_unusable_or_obsolete()  # back to the pool
            except Exception:
                # Redis or the database is down: the entries stay in the journal, where
                # the drain finds them once they are DRAIN_AFTER_MS old.
                logger.exception("ledger journal writer failed: %d entries left", len(batch))
                with contextlib.suppress(Exception):
                    connection.close()
            finally:
                self._finished += len(batch)


_lock = threading.Lock()
_current: _Writer | None = None


def _writer() -> _Writer:
    """This process's writer (a forked child starts its own: threads do not survive
    a fork)."""
    global _current
    writer = _current
    if writer is None or writer.pid != os.getpid():
        with _lock:
            writer = _current
            if writer is None or writer.pid != os.getpid():
                writer = _current = _Writer()
    return writer


def wait_written(timeout: float = 5.0) -> bool:
    """Block until this process's writer has written what it was handed (tests, and
    code that must read its own rows). False on timeout."""
    writer = _current
    return writer is None or writer.pid != os.getpid() or writer.wait(timeout)
