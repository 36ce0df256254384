"""Routes for tests and the dev stack, not Stripe's: ``/health`` and ``/_local/…``.

No API key; JSON in and out. They are never faulted, so a test can always clear a fault
or move the clock (docs/local-stripe.md, Control routes).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from apps.billing.local_stripe import billing
from apps.billing.local_stripe.core import Local


class BadRequest(Exception):
    pass


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise BadRequest("The body must be JSON.") from None


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def routes(local: Local) -> list[BaseRoute]:
    store = local.store

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "now": store.now(),
                "clock_offset": store.clock_offset,
                "webhook_url": local.webhooks.url,
                "state_file": str(store.path) if store.path else None,
            }
        )

    async def faults(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(local.faults.describe())
        try:
            return JSONResponse(local.faults.configure(await _body(request)))
        except (BadRequest, ValueError) as exc:
            return _bad(str(exc))

    async def advance(request: Request) -> JSONResponse:
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _bad(str(exc))
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            return _bad('Send {"seconds": N} with N a positive integer.')
        store.clock_offset += seconds
        store.changed()
        billing.run_due(local)
        return JSONResponse({"now": store.now(), "clock_offset": store.clock_offset})

    async def reset(request: Request) -> JSONResponse:
        store.reset()
        local.faults.configure({"clear": True})
        local.idempotency.clear()
        return JSONResponse({"reset": True})

    async def resend(request: Request) -> JSONResponse:
        if local.webhooks.url is None:
            return _bad("No webhook URL is set (LOCAL_STRIPE_WEBHOOK_URL).", 409)
        event_id = request.path_params["event_id"]
        if not local.webhooks.resend(event_id):
            return _bad(f"No such event: '{event_id}'", 404)
        return JSONResponse({"resent": event_id})

    async def webhook(request: Request) -> JSONResponse:
        try:
            body = await _body(request)
        except BadRequest as exc:
            return _bad(str(exc))
        url = body.get("url", "") if isinstance(body, dict) else ""
        if not (url is None or (isinstance(url, str) and url.startswith(("http://", "https://")))):
            return _bad('Send {"url": "http://…"} or {"url": null} to stop delivering.')
        local.webhooks.url = url
        return JSONResponse({"webhook_url": url})

    async def meter_errors(request: Request) -> JSONResponse:
        return JSONResponse({"data": store.meter_errors})

    return [
        Route("/health", health, methods=["GET"]),
        Route("/_local/faults", faults, methods=["GET", "POST"]),
        Route("/_local/clock/advance", advance, methods=["POST"]),
        Route("/_local/reset", reset, methods=["POST"]),
        Route("/_local/events/{event_id}/resend", resend, methods=["POST"]),
        Route("/_local/webhook", webhook, methods=["POST"]),
        Route("/_local/meter_errors", meter_errors, methods=["GET"]),
    ]
