"""``POST /api/v1/chat/completions``: OpenAI's chat API over the gateway, so a tenant's
own code can use the official OpenAI SDKs against the product with a tenant API key.

An async view, not a django-ninja operation: a streamed answer must come from an async
generator under ASGI (Django buffers sync iterators), and a refusal must still be an HTTP
error status, which needs the first gateway event before the response starts. The
gateway enters the key's tenant context for every database step it takes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.api.auth import authenticate, client_ip, require_scope
from apps.api.errors import ApiError, gateway_error_response, gateway_error_status
from apps.api.models import ApiKey
from apps.api.scopes import Scope
from apps.core.http import TracedRequest, error_body, error_response, event_stream_response
from apps.gateway import api as gateway
from apps.gateway.types import CallContext, GatewayError, StreamEvent
from apps.gateway.validation import CHAT_ALIASES
from apps.tenants.plans import model_refusal


def _invalid(
    message: str, *, code: str = "invalid_request", param: str | None = None
) -> JsonResponse:
    return error_response(400, message, code=code, param=param)


def _parse(request: HttpRequest) -> tuple[dict[str, Any] | None, JsonResponse | None]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return None, _invalid("The body is not valid JSON.", code="invalid_json")
    if not isinstance(body, dict):
        return None, _invalid("Send a JSON object with 'model' and 'messages'.")
    model = body.get("model")
    if model not in CHAT_ALIASES:
        return None, error_response(
            404,
            f"The model {model!r} does not exist. Use one of: {', '.join(CHAT_ALIASES)}.",
            code="model_not_found",
            param="model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
    ):
        return None, _invalid(
            "'messages' must be a list of {role, content} objects with text content.",
            param="messages",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return None, _invalid(f"'{name}' must be a positive integer.", param=name)
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        return None, _invalid("'temperature' must be between 0 and 2.", param="temperature")
    return body, None


async def _authenticate(request: HttpRequest) -> ApiKey:
    """The request's key with the ``chat`` scope; ``ApiError`` otherwise (apps/api/auth.py,
    as on every endpoint)."""
    key = await sync_to_async(authenticate)(
        request.headers.get("Authorization", ""), client_ip=client_ip(request)
    )
    return require_scope(key, Scope.CHAT)


def _chunk(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    flags: tuple[str, ...] = (),
) -> bytes:
    payload: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if flags:
        payload["guardrail_flags"] = list(flags)
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _sse(
    first: StreamEvent, rest: AsyncIterator[StreamEvent], *, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role, one chunk per token, the finish chunk, then (when
    asked) a usage chunk with no choices, then ``[DONE]``. A failure mid-stream is sent
    as an ``error`` object, as OpenAI does."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
    usage: dict[str, int] | None = None
    event: StreamEvent | None = first
    while event is not None:
        if event.type == "token":
            yield _chunk(cid, created, model, {"content": event.text})
        elif event.type == "usage":
            usage = {
                "prompt_tokens": event.tokens_in,
                "completion_tokens": event.tokens_out,
                "total_tokens": event.tokens_in + event.tokens_out,
            }
        elif event.type == "done":
            # The finish chunk carries the guardrail flags of the question and the whole
            # answer, as a non-streamed completion does (docs/api.md).
            yield _chunk(cid, created, model, {}, event.finish_reason, event.guardrail_flags)
            if include_usage and usage is not None:
                payload = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + json.dumps(payload).encode() + b"\n\n"
        elif event.type == "error":
            status, type_, code = gateway_error_status(event.code)
            error = error_body(status, event.message, code=code, type_=type_)
            yield b"data: " + json.dumps(error).encode() + b"\n\n"
        event = await anext(rest, None)
    yield b"data: [DONE]\n\n"


@csrf_exempt
@require_POST
async def chat_completions(request: TracedRequest) -> HttpResponseBase:
    try:
        key = await _authenticate(request)
    except ApiError as refused:
        return refused.response()
    body, problem = _parse(request)
    if problem is not None:
        return problem
    assert body is not None  # noqa: S101
    refusal = model_refusal(key.tenant.plan, body["model"])
    if refusal is not None:
        return error_response(403, refusal, code="model_not_allowed", param="model")
    ctx = CallContext(
        tenant_id=key.tenant_id,
        feature="api_chat",
        api_key_id=key.id,
        request_id=request.request_id,
    )
    options: dict[str, Any] = {
        "alias": body["model"],
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens"),
        "temperature": body.get("temperature"),
    }
    if not body.get("stream"):
        try:
            result = await gateway.complete(ctx, body["messages"], cascade=False, **options)
        except GatewayError as exc:
            return gateway_error_response(exc.code, exc.message, exc.retry_after)
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": result.finish_reason,
                    "message": {"role": "assistant", "content": result.content},
                }
            ],
            "usage": {
                "prompt_tokens": result.tokens_in,
                "completion_tokens": result.tokens_out,
                "total_tokens": result.tokens_in + result.tokens_out,
            },
        }
        if result.guardrail_flags:
            # The guardrails that flagged or redacted something (docs/guardrails.md): in
            # the body, as on a stream's finish chunk, and in a header.
            completion["guardrail_flags"] = list(result.guardrail_flags)
        response = JsonResponse(completion)
        if result.guardrail_flags:
            response["X-Guardrail-Flags"] = ",".join(result.guardrail_flags)
        return response
    events = gateway.stream_chat(ctx, body["messages"], **options)
    first = await anext(events, None)
    if first is None or first.type == "error":
        await events.aclose()
        if first is None:
            return error_response(
                500, "The model returned nothing. Try again.", code="empty_response"
            )
        return gateway_error_response(first.code, first.message, first.retry_after)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return event_stream_response(
        _sse(first, events, model=body["model"], include_usage=include_usage)
    )
