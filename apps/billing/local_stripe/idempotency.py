"""``Idempotency-Key`` on POSTs: the same key with the same parameters replays the first
response (``Idempotent-Replayed: true``); with other parameters it is a 400, as on Stripe.

Kept in memory for the last ``KEYS`` keys: a restart or ``/_local/reset`` forgets them.
A call refused before it ran (a fault, a bad key, invalid parameters) is not remembered,
so its retry runs for real, as on Stripe.
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.responses import Response

from apps.billing.local_stripe.errors import StripeError

KEYS = 10_000


class Idempotency:
    def __init__(self) -> None:
        self._seen: OrderedDict[str, tuple[str, int, bytes, dict[str, str]]] = OrderedDict()

    def replay(self, key: str, fingerprint: str) -> Response | None:
        if key not in self._seen:
            return None
        first, status, body, headers = self._seen[key]
        if first != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return Response(
            body,
            status,
            headers={**headers, "Idempotent-Replayed": "true"},
            media_type="application/json",
        )

    def remember(self, key: str, fingerprint: str, response: Response) -> None:
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
        }
        self._seen[key] = (fingerprint, response.status_code, bytes(response.body), headers)
        while len(self._seen) > KEYS:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        self._seen.clear()
