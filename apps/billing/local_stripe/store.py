"""The server's state: Stripe's objects in memory, a clock, and a JSON file that keeps them.

Objects are stored as the API returns them; keys starting with ``_`` are private (a
session's line items) and ``render`` drops them. Everything runs on the server's event
loop, so no locks. With a state file, every change schedules a write of the whole state
(atomic rename) within ``WRITE_EVERY_S``; changes made meanwhile are coalesced into the
next write, so a burst of meter events costs a few writes, not one each. Shutdown writes
what is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Json = dict[str, Any]

# Collections of objects by id, in creation order.
KINDS = (
    "customers",
    "products",
    "prices",
    "meters",
    "checkout_sessions",
    "portal_sessions",
    "subscriptions",
    "invoices",
    "events",
)
VERSION = 1
WRITE_EVERY_S = 0.2
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """``cus_`` + random letters and digits, like Stripe's ids."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.objects: dict[str, dict[str, Json]] = {kind: {} for kind in KINDS}
        # Accepted meter events: [identifier, event_name, customer, value, timestamp, created].
        self.meter_events: list[list[Any]] = []
        # Meter event session tokens (v2) to their expiry (server clock).
        self.meter_sessions: dict[str, int] = {}
        # Stream events dropped by validation, newest last (v2 validates asynchronously).
        self.meter_errors: list[Json] = []
        self.clock_offset = 0
        self._identifiers: dict[str, int] = {}
        self._dirty = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # -- clock -------------------------------------------------------------------------

    def now(self) -> int:
        """Unix seconds on the server's clock: real time moved by ``/_local/clock/advance``."""
        return int(time.time()) + self.clock_offset

    # -- objects -----------------------------------------------------------------------

    def add(self, kind: str, obj: Json) -> Json:
        self.objects[kind][obj["id"]] = obj
        self.changed()
        return obj

    def get(self, kind: str, object_id: str) -> Json | None:
        return self.objects[kind].get(object_id)

    def all(self, kind: str) -> Iterator[Json]:
        return iter(list(self.objects[kind].values()))

    # -- meter events ------------------------------------------------------------------

    def identifier_seen(self, identifier: str, window_s: int) -> bool:
        """Whether an accepted event had this identifier within ``window_s`` (server clock)."""
        created = self._identifiers.get(identifier)
        return created is not None and created > self.now() - window_s

    def add_meter_event(self, event: list[Any]) -> None:
        self.meter_events.append(event)
        self._identifiers[event[0]] = event[5]
        self.changed()

    # -- persistence -------------------------------------------------------------------

    def changed(self) -> None:
        if self.path is not None:
            self._dirty.set()

    def snapshot(self) -> bytes:
        return json.dumps(
            {
                "version": VERSION,
                "clock_offset": self.clock_offset,
                "objects": self.objects,
                "meter_events": self.meter_events,
                "meter_sessions": self.meter_sessions,
                "meter_errors": self.meter_errors,
            },
            separators=(",", ":"),
        ).encode()

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        state = json.loads(self.path.read_text())
        if state.get("version") != VERSION:
            raise ValueError(
                f"{self.path} was written by another version of the local Stripe server; "
                "delete it to start empty."
            )
        self.clock_offset = state["clock_offset"]
        for kind in KINDS:
            self.objects[kind] = state["objects"].get(kind, {})
        self.meter_events = state["meter_events"]
        self.meter_sessions = state["meter_sessions"]
        self.meter_errors = state["meter_errors"]
        self._identifiers = {event[0]: event[5] for event in self.meter_events}

    def reset(self) -> None:
        for kind in KINDS:
            self.objects[kind] = {}
        self.meter_events, self.meter_sessions, self.meter_errors = [], {}, []
        self.clock_offset = 0
        self._identifiers = {}
        self.changed()

    def start_writer(self) -> None:
        if self.path is not None:
            self._writer = asyncio.create_task(self._write_forever(), name="local-stripe-save")

    async def stop_writer(self) -> None:
        """Write what is not written yet, then stop the writer."""
        if self._writer is None:
            return
        self._closing = True
        self._dirty.set()  # wakes it for a last write
        await self._writer

    async def _write_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            # Serialised on the loop (a consistent snapshot), written off it.
            await asyncio.to_thread(self._write, self.snapshot())
            if self._closing and not self._dirty.is_set():
                return
            if not self._closing:
                # Each snapshot costs the whole state: under a burst of changes, at most
                # one every WRITE_EVERY_S.
                await asyncio.sleep(WRITE_EVERY_S)

    def _write(self, data: bytes) -> None:
        assert self.path is not None  # noqa: S101 - only scheduled with a path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
