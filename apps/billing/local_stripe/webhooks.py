"""Events and their delivery: signed exactly as Stripe signs, in the background, retried.

``Webhooks.emit`` records an ``event`` (listed by ``GET /v1/events``) and, when a webhook
URL is set, queues it. One worker posts queued events in order; a failed attempt (no
answer, or not 2xx) is queued again after a backoff, so a down endpoint delays only its
own events. API calls never wait for deliveries.

Signature: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` with
``t`` the real time of the attempt (receivers check it against their own clock, not the
server's advanced one).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from apps.billing.local_stripe import objects
from apps.billing.local_stripe.render import render
from apps.billing.local_stripe.store import Json, Store

DEFAULT_SECRET = "whsec_local_dev_secret"  # noqa: S105 - a documented dev-only secret
ATTEMPTS = 5
FIRST_BACKOFF_S = 0.5  # then 1, 2, 4 s: a short outage of the app is bridged
TIMEOUT_S = 5.0
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

log = logging.getLogger("local_stripe.webhooks")


def signature(secret: str, payload: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Webhooks:
    def __init__(self, store: Store, url: str | None, secret: str) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self._queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    def emit(
        self,
        event_type: str,
        obj: Json,
        *,
        previous: Json | None = None,
        request: Json | None = None,
    ) -> Json:
        """Record an event whose ``data.object`` is ``obj`` as the API shows it now."""
        event = objects.event(
            event_type,
            render(self.store, obj),
            self.store.now(),
            previous=previous,
            request=request or {"id": None, "idempotency_key": None},
            pending_webhooks=1 if self.url else 0,
        )
        self.store.add("events", event)
        if self.url:
            self._queue.put_nowait((event["id"], 1))
        return event

    def resend(self, event_id: str) -> bool:
        if self.store.get("events", event_id) is None:
            return False
        self._queue.put_nowait((event_id, 1))
        return True

    async def run(self) -> None:
        """The delivery worker; runs until cancelled."""
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            while True:
                event_id, attempt = await self._queue.get()
                try:
                    await self._attempt(client, event_id, attempt)
                except Exception:
                    log.exception("delivering %s failed", event_id)  # the others still go

    async def _attempt(self, client: httpx.AsyncClient, event_id: str, attempt: int) -> None:
        event = self.store.get("events", event_id)
        url = self.url
        if event is None or url is None:
            return  # reset, or delivery turned off since it was queued
        payload = json.dumps(event, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature(self.secret, payload, int(time.time())),
            "User-Agent": USER_AGENT,
        }
        failure: Any
        try:
            response = await client.post(url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            failure = exc
        else:
            if response.is_success:
                event["pending_webhooks"] = 0
                self.store.changed()
                return
            failure = f"HTTP {response.status_code}"
        if attempt >= ATTEMPTS:
            log.warning(
                "gave up on %s %s after %d attempts: %s", event["type"], event_id, attempt, failure
            )
            return
        delay = FIRST_BACKOFF_S * 2 ** (attempt - 1)
        retry = (event_id, attempt + 1)
        asyncio.get_running_loop().call_later(delay, self._queue.put_nowait, retry)
