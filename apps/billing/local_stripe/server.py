"""The local Stripe server's Starlette app: Stripe's wire protocol around the handlers.

Every v1 call goes through ``_endpoint``: injected fault, API key, form (and query)
decoding, the ``Idempotency-Key`` replay, validation against Stripe's spec, the handler
``operations`` names, then ``expand[]`` and Stripe's JSON. The two v2 meter event routes
are checked by hand. The hosted pages (``hosted``) and the control routes (``control``)
are mounted beside them. It must not import Django.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apps.billing.local_stripe import billing, control, hosted, meters, validation
from apps.billing.local_stripe.core import Call, Local, Settings
from apps.billing.local_stripe.errors import StripeError
from apps.billing.local_stripe.forms import decode
from apps.billing.local_stripe.operations import OPERATIONS, Operation
from apps.billing.local_stripe.render import render
from apps.billing.local_stripe.store import Json, new_id

log = logging.getLogger("local_stripe")

TICK_S = 10  # how often the clock's due work (renewals, expiries) runs on its own


# -- the wire ------------------------------------------------------------------------------


def _api_key(request: Request) -> str:
    """Stripe's auth: ``Authorization: Bearer sk_test_…`` (or Basic with the key as user)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    return key


def _secret_key(request: Request) -> None:
    key = _api_key(request)
    if not key.startswith("sk_test_"):
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        raise StripeError(
            401,
            f"Invalid API Key provided: {masked}. The local Stripe server accepts any "
            "test secret key (sk_test_…).",
        )


async def _form(request: Request) -> dict[str, Any]:
    """Query string, then (POST, DELETE) the form body: Stripe reads both."""
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method != "GET":
        try:
            body = (await request.body()).decode()
        except UnicodeDecodeError:
            raise StripeError(400, "The request body is not valid UTF-8.") from None
        pairs += parse_qsl(body, keep_blank_values=True)
    return decode(pairs)


def _json(body: Json, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, indent=2) + "\n",
        status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def _error(exc: StripeError, request_id: str) -> Response:
    return _json(exc.body(), exc.status, {**exc.headers, "Request-Id": request_id})


def _endpoint(local: Local, operation: Operation) -> Callable[..., Any]:
    implemented = {*operation.implemented, "expand"}
    idempotency = local.idempotency

    async def serve(request: Request) -> Response:
        request_id = new_id("req_", 14)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        try:
            fault = local.faults.take()
            if fault is not None:
                raise fault
            _secret_key(request)
            raw = await _form(request)
            fingerprint = json.dumps([operation.key, request.path_params, raw], sort_keys=True)
            if key and (replayed := idempotency.replay(key, fingerprint)):
                return replayed
            params = validation.validate(operation.key, raw)
            extra = sorted(set(params) - implemented)
            if extra:
                raise StripeError(
                    400,
                    f"The parameter `{extra[0]}` is valid in Stripe's API but not implemented "
                    "by the local Stripe server (see docs/local-stripe.md).",
                    param=extra[0],
                )
        except StripeError as exc:
            return _error(exc, request_id)
        call = Call(local, params, request.path_params, {"id": request_id, "idempotency_key": key})
        try:
            result = operation.handler(call)
            response = _json(
                render(local.store, result, params.get("expand", [])),
                headers={"Request-Id": request_id},
            )
        except StripeError as exc:
            response = _error(exc, request_id)
        except Exception:
            # A bug here, not in the caller: answer as Stripe's 500s do, and say where.
            log.exception("%s failed", operation.key)
            response = _error(
                StripeError(500, "The local Stripe server failed; see its log.", type="api_error"),
                request_id,
            )
        if key:
            idempotency.remember(key, fingerprint, response)
        return response

    return serve


# -- v2 ------------------------------------------------------------------------------------


async def _v2_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise StripeError(400, "The request body is not valid JSON.") from None


def _v2_routes(local: Local) -> list[BaseRoute]:
    """The meter event session (secret key) and stream (session token) of the v2 API;
    not in the npm spec, so validated by hand."""

    async def session(request: Request) -> Response:
        request_id = new_id("req_", 14)
        try:
            if fault := local.faults.take():
                raise fault
            _secret_key(request)
            body = await _v2_body(request)
            if body != {}:
                name = next(iter(body)) if isinstance(body, dict) and body else "body"
                raise StripeError(
                    400, f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
                )
            call = Call(local, {}, {}, {"id": request_id, "idempotency_key": None})
            session = meters.create_meter_event_session(call)
            return _json(session, headers={"Request-Id": request_id})
        except StripeError as exc:
            return _error(exc, request_id)

    async def stream(request: Request) -> Response:
        request_id = new_id("req_", 14)
        try:
            if fault := local.faults.take():
                raise fault
            meters.check_session_token(local, _api_key(request))
            meters.stream_events(local, await _v2_body(request))
            return _json({}, headers={"Request-Id": request_id})
        except StripeError as exc:
            return _error(exc, request_id)

    return [
        Route("/v2/billing/meter_event_session", session, methods=["POST"]),
        Route("/v2/billing/meter_event_stream", stream, methods=["POST"]),
    ]


# -- the app -------------------------------------------------------------------------------


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods, in Stripe's words for API paths."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    if request.url.path.startswith(("/v1/", "/v2/")):
        return _json(
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({request.method}: "
                    f"{request.url.path}). The local Stripe server implements the routes "
                    "listed in docs/local-stripe.md.",
                }
            },
            404,
        )
    return Response(f"{exc.status_code} {exc.detail}\n", exc.status_code, media_type="text/plain")


async def _tick(local: Local) -> None:
    """Renewals and expiries as real time passes (``/_local/clock/advance`` runs them at once)."""
    while True:
        await asyncio.sleep(TICK_S)
        try:
            billing.run_due(local)
        except Exception:
            log.exception("the clock's due work failed")  # the next tick tries again


def build_app(env: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI app. Settings come from ``env`` (default: ``os.environ``); the state file
    is read when the server starts and written after changes and at shutdown."""
    local = Local.build(Settings.from_env(os.environ if env is None else env))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        local.store.load()
        billing.run_due(local)
        local.store.start_writer()
        tasks = [
            asyncio.create_task(local.webhooks.run(), name="local-stripe-webhooks"),
            asyncio.create_task(_tick(local), name="local-stripe-clock"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await local.store.stop_writer()

    api = [Route(op.path, _endpoint(local, op), methods=[op.method]) for op in OPERATIONS]
    app = Starlette(
        routes=[*api, *_v2_routes(local), *hosted.routes(local), *control.routes(local)],
        exception_handlers={HTTPException: _not_found},
        lifespan=lifespan,
    )
    app.state.local = local
    return app
