"""Injected faults: the next N API calls fail with a status, or the API is down for S s.

Set by ``POST /_local/faults``; only Stripe's API routes (``/v1``, ``/v2``) are affected,
never ``/health``, ``/_local`` or the hosted pages. A faulted call does nothing, so a
retry with the same ``Idempotency-Key`` runs it for real, as after Stripe's own 429s and
5xx. Faults live in memory (a restart clears them) and count real time, not the server's
clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from apps.billing.local_stripe.errors import StripeError

STATUSES = (429, 500, 503)


@dataclass
class Faults:
    status: int | None = None
    remaining: int = 0
    down_until: float = 0.0  # time.monotonic()

    def configure(self, body: Any) -> dict[str, Any]:
        """Apply a ``/_local/faults`` body; ValueError says what is wrong with it."""
        if not isinstance(body, dict):
            raise ValueError("The body must be a JSON object.")
        if body.get("clear") is True and len(body) == 1:
            self.status, self.remaining, self.down_until = None, 0, 0.0
        elif set(body) == {"status", "count"}:
            status, count = body["status"], body["count"]
            if status not in STATUSES:
                raise ValueError(f"status must be one of {', '.join(map(str, STATUSES))}.")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ValueError("count must be a positive integer.")
            self.status, self.remaining = status, count
        elif set(body) == {"down_seconds"}:
            seconds = body["down_seconds"]
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
                raise ValueError("down_seconds must be a positive number.")
            self.down_until = time.monotonic() + seconds
        else:
            raise ValueError(
                'Send {"status": 429|500|503, "count": N}, {"down_seconds": S} or {"clear": true}.'
            )
        return self.describe()

    def describe(self) -> dict[str, Any]:
        down = max(0.0, self.down_until - time.monotonic())
        return {
            "status": self.status if self.remaining else None,
            "remaining": self.remaining,
            "down_seconds_left": round(down, 3),
        }

    def take(self) -> StripeError | None:
        """The error for this API call, if a fault is due; counts it down."""
        left = self.down_until - time.monotonic()
        if left > 0:
            return StripeError(
                503,
                "Stripe is unavailable: the local Stripe server is down "
                f"for {left:.0f} more seconds (injected).",
                type="api_error",
                headers={"Retry-After": str(math.ceil(left))},
            )
        if not self.remaining or self.status is None:
            return None
        self.remaining -= 1
        if self.status == 429:
            return StripeError(
                429,
                "Request rate limit exceeded (injected by the local Stripe server).",
                code="rate_limit",
                headers={"Retry-After": "1"},
            )
        return StripeError(
            self.status,
            "An unknown error occurred (injected by the local Stripe server).",
            type="api_error",
        )
