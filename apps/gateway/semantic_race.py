"""Step 5b off the critical path: the semantic cache races the provider (ADR 0011).

A semantic lookup embeds the question (a provider call of its own, ~20 ms on the local
embedder, a network round trip to a hosted one) and searches pgvector. Waiting for it
before the provider call adds that to every miss, and most calls miss. So on an exact
miss the provider call starts at once, beside the lookup:

- the lookup finishes first with a hit: the provider call is cancelled (the relay closes
  its connection, so the provider stops) and the cached answer is served. The cancelled
  call gets a ledger row of its own (feature ``semantic_cache``, status ``aborted``,
  error ``cache_answered``) with nothing billed: it delivered nothing, as an aborted
  stream with no token bills nothing;
- the provider answers (its first chunk, for a stream) first, or the lookup misses: the
  provider's answer is served, and the lookup's embedding stores it in the cache after.

One answer either way: the cache serves only once the provider call is known cancelled
before it answered; if the provider answered in the meantime, its answer stands and the
hit is dropped. Settlement is unchanged: the call's one reservation is settled once, by
whichever answer is served.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from apps.gateway.journal import record
from apps.gateway.ledger import LedgerEntry
from apps.gateway.models import CallStatus
from apps.gateway.pipeline import CACHE_FEATURE, Call, Looked, semantic_lookup
from apps.gateway.semantic_cache import SemanticHit

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Process-wide state ---------------------------------------------------------------------
# _background: the cache stores still running after a whole answer was returned (the
#   lookup it needs finished after the provider). Held here so they are not garbage
#   collected mid-way; each removes itself when done. ``drain`` awaits the current loop's,
#   for callers whose loop ends with the call (``complete_sync``).
_background: set[asyncio.Task[None]] = set()


def start(
    call: Call, question: str, provider: Coroutine[Any, Any, T]
) -> tuple[asyncio.Task[Looked], asyncio.Task[T]]:
    """Start the semantic lookup and the provider call together."""
    return _detached(semantic_lookup(call, question)), asyncio.create_task(provider)


def _detached(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task that may outlive the request that started it (the lookup goes on while the
    answer streams; a store after a whole answer was returned). A fresh context: the
    request's holds asgiref's per-request thread executor, gone when the request ends, and
    its database calls would fail; so a task's go to the loop's executor, as the chat's
    generations do (apps/chat/streams.py)."""
    return asyncio.create_task(work, context=contextvars.Context())


async def race(lookup: asyncio.Task[Looked], provider: asyncio.Task[Any]) -> SemanticHit | None:
    """The hit to serve, with ``provider`` cancelled; or None, with ``provider`` done
    (its result or its exception is the caller's). Cancelling the caller cancels both."""
    try:
        await asyncio.wait({lookup, provider}, return_when=asyncio.FIRST_COMPLETED)
        if provider.done():
            return None
        hit = lookup.result().hit
        if hit is None:
            await asyncio.wait({provider})
            return None
        provider.cancel()
        await asyncio.wait({provider})
    except asyncio.CancelledError:
        lookup.cancel()
        provider.cancel()
        raise
    if not provider.cancelled():
        # It answered between the lookup's verdict and the cancel: that answer is
        # served (and billed); the hit is dropped.
        return None
    return hit


async def record_cancelled(call: Call, served_model: str = "") -> None:
    """The provider call the cache overtook: its own ledger row, nothing billed, under
    the feature ``semantic_cache`` with the cache's embedding calls (what the cache
    costs), so the answer's feature keeps one row per answer."""
    ctx = dataclasses.replace(call.ctx, feature=CACHE_FEATURE)
    await asyncio.shield(
        record(
            LedgerEntry(
                ctx=ctx,
                requested_model=call.alias,
                served_model=served_model,
                status=CallStatus.ABORTED,
                error_code="cache_answered",
            )
        )
    )


def in_background(work: Coroutine[Any, Any, None]) -> None:
    task = _detached(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def drain() -> None:
    """Wait for this loop's background stores (before a loop that ends with the call)."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _background if task.get_loop() is loop]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
