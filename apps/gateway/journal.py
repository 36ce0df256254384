"""The ledger off the response path: a durable journal in Redis, written to PostgreSQL
in batches (docs/gateway.md, "The ledger journal").

A gateway call's ledger entry and the settlement of its limits and budget are handed to
the process's settler thread (``settle_later``): the call returns its answer without
waiting, and the settler appends the entry to the Redis stream ``JOURNAL`` in the same
pipelined round trip as the counters' changes (one round trip for every settlement that
arrived meanwhile). A refusal or an embedding hands over its entry alone. The row id is
made here, so the caller still gets it. Two writers insert the entries
(``ledger.insert_batch``, idempotent: ``INSERT … ON CONFLICT (id) DO NOTHING``, a row
and its dependants at once, one statement per tenant) and then delete them from the
stream:

- the process's writer thread, handed each entry once the settler appended it: rows land
  a few milliseconds after the response, many entries to a transaction under load;
- ``drain`` (Celery beat, ``apps.gateway.tasks.ledger_drain``): entries older than
  ``DRAIN_AFTER_MS``, which only a crashed or stopped process leaves behind.

Both may write the same entry (a slow writer, a drain at the same moment): the id is
the row's key, so it is written once, and its outbox entry, semantic hit and FinOps
queue row (a trigger on the insert) with it. An entry is deleted from the stream only
once its row is committed. ``GATEWAY_LEDGER_JOURNAL=0`` keeps the synchronous write.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection
from redis.exceptions import RedisError

from apps.core.redis_client import sync_redis
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
SETTLER_THREAD = "gateway-settler"
# How long each thread, once woken by a first item, waits for more to join its batch.
# Every batch is Python run beside the event loop (one GIL): a transaction, its pool
# checkout, the stream's XDEL for the writer; a redis-py pipeline for the settler. Woken
# once per call, the writer's batches held the GIL in the middle of the next calls; a
# batch every 20 ms takes a few calls' rows at once. The settler's wait stays short: the
# counters hold a call's reservation until it is sent (they over-count meanwhile) and a
# process killed outright loses what it has not sent.
WRITER_LINGER_S = 0.02
SETTLER_LINGER_S = 0.002


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
    """The entry's ledger row: journaled by the settler (a Redis round trip off the
    caller's path, the row a few milliseconds later) or, with the journal off, written
    now."""
    if not enabled():
        return await ledger.record_now(entry)
    journaled = prepare(entry)
    settle_later(Settlement(journaled))
    return journaled.row_id


@dataclass(frozen=True)
class Settlement:
    """What a call leaves to do once its answer is known: append its ledger entry
    (None: no entry), add ``changes`` (key, delta) to counters, then call ``after`` with
    the counters' new values (the budget's alerts), on the settler's thread."""

    journaled: Journaled | None
    changes: tuple[tuple[str, int], ...] = ()
    after: Callable[[list[int]], None] | None = None


def settle_later(settlement: Settlement) -> None:
    """Hand ``settlement`` to this process's settler: the caller does not wait for the
    round trip. The settler batches what arrives while it sends, and a process that
    exits cleanly finishes it first (``_flush_at_exit``)."""
    _worker(_Settler).submit(settlement)


def appended(journaled: Journaled, stream_id: bytes) -> None:
    """``journaled`` is in the stream as ``stream_id``: hand it to the process's writer."""
    ledger.observe(journaled.entry)
    _worker(_Writer).submit((stream_id, journaled))


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
    # One statement per tenant in the batch, its values as arrays (``ledger.insert_batch``).
    return ledger.insert_batch([_parsed(payload) for _, payload in items])


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


# The process's threads ------------------------------------------------------------------


class _Worker:
    """A thread that handles what this process submits, batching what arrives while it
    works. Process-wide (not per event loop): a loop may end with its request
    (``async_to_sync``), an item handed over must still be handled."""

    name = ""
    linger = 0.0  # seconds (WRITER_LINGER_S)

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # No lock on the event loop's path: ``submit`` only counts and puts. The thread
        # alone counts what it finished, under ``_done`` so that ``wait`` wakes at once.
        # A process's calls run on its event loop's thread (two loops in two threads
        # submitting at once could miss a count, and ``wait`` would return early, never
        # late).
        self._submitted = 0
        self._finished = 0
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> None:
        self._submitted += 1
        self._items.put(item)

    def wait(self, timeout: float) -> bool:
        """Until everything submitted so far is handled (or failed); False on timeout."""
        target = self._submitted
        with self._done:
            return self._done.wait_for(lambda: self._finished >= target, timeout)

    def _run(self) -> None:
        while True:
            batch = [self._items.get()]
            if self.linger:
                time.sleep(self.linger)
            while len(batch) < BATCH:
                try:
                    batch.append(self._items.get_nowait())
                except queue.Empty:
                    break
            try:
                self._handle(batch)
            finally:
                with self._done:
                    self._finished += len(batch)
                    self._done.notify_all()

    def _handle(self, batch: list[Any]) -> None:
        raise NotImplementedError


class _Writer(_Worker):
    """Writes the entries this process appended (``Item``) to PostgreSQL."""

    name = WRITER_THREAD
    linger = WRITER_LINGER_S

    def _handle(self, batch: list[Item]) -> None:
        try:
            write(batch)
            connection.close_if_unusable_or_obsolete()  # back to the pool
        except Exception:
            # Redis or the database is down: the entries stay in the journal, where
            # the drain finds them once they are DRAIN_AFTER_MS old.
            logger.exception("ledger journal writer failed: %d entries left", len(batch))
            with contextlib.suppress(Exception):
                connection.close()


class _Settler(_Worker):
    """Sends what calls left to settle (``Settlement``) in one pipelined Redis round trip
    per batch, then hands the appended entries to the writer."""

    name = SETTLER_THREAD
    linger = SETTLER_LINGER_S

    def _handle(self, batch: list[Settlement]) -> None:
        try:
            results = _send(batch)
        except RedisError:
            # Nothing reached the journal (or not all of it): the rows go straight to the
            # database (idempotent: an entry that did reach the stream is one row too);
            # the counters keep their reservations, which only ever over-count.
            logger.exception("settlement failed: %d ledger rows written directly", len(batch))
            _write_directly([s.journaled for s in batch if s.journaled is not None])
            return
        position, followed = 0, False
        for settlement in batch:
            if settlement.journaled is not None:
                appended(settlement.journaled, results[position])
                position += 1
            values = [int(v) for v in results[position : position + len(settlement.changes)]]
            position += len(settlement.changes)
            if settlement.after is not None:
                followed = True
                try:
                    settlement.after(values)
                except Exception:
                    logger.exception("after a settlement (budget alerts) failed")
        if followed:
            connection.close_if_unusable_or_obsolete()


def _send(batch: list[Settlement]) -> list[Any]:
    with sync_redis().pipeline(transaction=False) as pipe:
        for settlement in batch:
            if settlement.journaled is not None:
                pipe.xadd(JOURNAL, {"e": settlement.journaled.data})
            for key, delta in settlement.changes:
                pipe.incrby(key, delta)
        return pipe.execute()


def _write_directly(entries: list[Journaled]) -> None:
    for journaled in entries:
        try:
            _insert([(b"", journaled)])
            ledger.observe(journaled.entry)
        except Exception:
            logger.exception("ledger row lost: %s", journaled.data.decode())
    with contextlib.suppress(Exception):
        connection.close_if_unusable_or_obsolete()


_lock = threading.Lock()
_workers: dict[type[_Worker], _Worker] = {}


def _worker(kind: type[_Worker]) -> _Worker:
    """This process's worker of ``kind`` (a forked child starts its own: threads do not
    survive a fork)."""
    worker = _workers.get(kind)
    if worker is None or worker.pid != os.getpid():
        with _lock:
            worker = _workers.get(kind)
            if worker is None or worker.pid != os.getpid():
                worker = _workers[kind] = kind()
    return worker


def _wait(kinds: tuple[type[_Worker], ...], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for kind in kinds:
        worker = _workers.get(kind)
        if worker is None or worker.pid != os.getpid():
            continue  # none started in this process: nothing to wait for
        if not worker.wait(max(0.0, deadline - time.monotonic())):
            return False
    return True


def wait_settled(timeout: float = 5.0) -> bool:
    """Block until every settlement this process submitted is in Redis (its entry in
    the journal, its counters changed). False on timeout."""
    return _wait((_Settler,), timeout)


def wait_written(timeout: float = 5.0) -> bool:
    """Block until what this process submitted is settled and its rows written (tests,
    and code that must read its own rows). False on timeout."""
    return _wait((_Settler, _Writer), timeout)


@atexit.register
def _flush_at_exit() -> None:
    # A process that stops cleanly settles and writes what its calls left.
    wait_written(5.0)
