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
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.api import services
from apps.api.models import ApiKey, Scope
from apps.gateway import api as gateway
from apps.gateway.types import CallContext, GatewayError, StreamEvent
from apps.gateway.validation import CHAT_ALIASES

# OpenAI's status and error type for each gateway error code.
_STATUS = {
    "invalid_request": (400, "invalid_request_error"),
    "context_too_long": (400, "invalid_request_error"),
    "rate_limited": (429, "rate_limit_error"),
    "budget_exceeded": (429, "insufficient_quota"),
    "guardrail_blocked": (400, "invalid_request_error"),
    "provider_unavailable": (503, "api_error"),
}
_CODE = {"context_too_long": "context_length_exceeded", "budget_exceeded": "insufficient_quota"}


def _error(
    status: int,
    message: str,
    *,
    type_: str,
    code: str,
    param: str | None = None,
    retry_after: float | None = None,
) -> JsonResponse:
    response = JsonResponse(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


def _gateway_error(code: str, message: str, retry_after: float | None) -> JsonResponse:
    status, type_ = _STATUS.get(code, (500, "api_error"))
    return _error(status, message, type_=type_, code=_CODE.get(code, code), retry_after=retry_after)


def _parse(request: HttpRequest) -> tuple[dict[str, Any] | None, JsonResponse | None]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return None, _error(
            400, "The body is not valid JSON.", type_="invalid_request_error", code="invalid_json"
        )
    if not isinstance(body, dict):
        return None, _error(
            400,
            "Send a JSON object with 'model' and 'messages'.",
            type_="invalid_request_error",
            code="invalid_request",
        )
    model = body.get("model")
    if model not in CHAT_ALIASES:
        return None, _error(
            404,
            f"The model {model!r} does not exist. Use one of: {', '.join(CHAT_ALIASES)}.",
            type_="invalid_request_error",
            code="model_not_found",
            param="model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
    ):
        return None, _error(
            400,
            "'messages' must be a list of {role, content} objects with text content.",
            type_="invalid_request_error",
            code="invalid_request",
            param="messages",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return None, _error(
                400,
                f"'{name}' must be a positive integer.",
                type_="invalid_request_error",
                code="invalid_request",
                param=name,
            )
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        return None, _error(
            400,
            "'temperature' must be between 0 and 2.",
            type_="invalid_request_error",
            code="invalid_request",
            param="temperature",
        )
    return body, None


async def _authenticate(request: HttpRequest) -> tuple[ApiKey | None, JsonResponse | None]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, _error(
            401,
            "No API key. Send one as 'Authorization: Bearer sk_…'; "
            "create it in Organisation → API keys.",
            type_="authentication_error",
            code="missing_api_key",
        )
    key = await sync_to_async(services.api_key_authenticate)(token.strip())
    if key is None:
        return None, _error(
            401,
            "Invalid API key. Create one in Organisation → API keys.",
            type_="authentication_error",
            code="invalid_api_key",
        )
    if not key.has_scope(Scope.CHAT):
        return None, _error(
            403,
            "This API key lacks the 'chat' scope. Create a key with it in Organisation → API keys.",
            type_="permission_error",
            code="missing_scope",
        )
    return key, None


def _chunk(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None
) -> bytes:
    payload = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
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
            yield _chunk(cid, created, model, {}, event.finish_reason)
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
            error = {"message": event.message, "type": _STATUS[event.code][1], "code": event.code}
            yield b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
        event = await anext(rest, None)
    yield b"data: [DONE]\n\n"


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    key, problem = await _authenticate(request)
    if problem is not None:
        return problem
    assert key is not None  # noqa: S101 - narrows the type; _authenticate returned a key
    body, problem = _parse(request)
    if problem is not None:
        return problem
    assert body is not None  # noqa: S101
    ctx = CallContext(
        tenant_id=key.tenant_id,
        feature="api_chat",
        api_key_id=key.id,
        request_id=getattr(request, "request_id", ""),
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
            return _gateway_error(exc.code, exc.message, exc.retry_after)
        return JsonResponse(
            {
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
        )
    events = gateway.stream_chat(ctx, body["messages"], **options)
    first = await anext(events, None)
    if first is None or first.type == "error":
        await events.aclose()
        if first is None:
            return _error(
                500,
                "The model returned nothing. Try again.",
                type_="api_error",
                code="empty_response",
            )
        return _gateway_error(first.code, first.message, first.retry_after)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = StreamingHttpResponse(
        _sse(first, events, model=body["model"], include_usage=include_usage),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
