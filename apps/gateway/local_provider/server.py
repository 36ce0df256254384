"""The local provider's Starlette app: OpenAI's wire format for chat and embeddings.

Routes: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions``,
``POST /v1/embeddings``, and the Files / Batches API (``batches``). Answers come from
``devmodel`` (pure, deterministic); this module adds timing (TTFT, token rate), fault
injection and the HTTP / SSE framing.
It must not import Django; importing it must not import torch (``embeddings`` does that
in a background thread once the server starts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apps.core import heap
from apps.gateway.local_provider import batches, devmodel
from apps.gateway.local_provider.devmodel import RequestError
from apps.gateway.local_provider.embeddings import DIMENSIONS, MAX_INPUTS, Embedder

DEFAULT_TTFT_MS = 150.0
DEFAULT_TOKENS_PER_S = 40.0
DEFAULT_TIMEOUT_S = 30.0
# In an unpaced stream, hand the event loop back every this many chunks: uvicorn's send
# does not suspend while the socket keeps up, so one fast stream would otherwise starve
# every other request until it finished.
YIELD_EVERY = 16

# Compact, like the hand-built parts of each chunk; made once (json.dumps with options
# builds a new encoder per call).
_compact = json.JSONEncoder(separators=(",", ":")).encode

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class InjectedCut(Exception):
    """Raised out of a streaming body to drop the connection mid-stream (``cut`` fault).

    uvicorn then closes the socket without the terminating chunk, so clients see an
    incomplete response: no finish chunk, no usage, no ``[DONE]``.
    """


class _HideInjectedCuts(logging.Filter):
    """Keeps uvicorn from logging a traceback for every deliberate cut."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedCut))


@dataclass(frozen=True, slots=True)
class Timing:
    ttft_s: float
    tokens_per_s: float  # 0 means unpaced


@dataclass(frozen=True, slots=True)
class Settings:
    """Process-wide defaults, read from the environment when the app is built."""

    timing: Timing
    timeout_s: float
    answer_tokens: int | None = None  # every answer exactly this long (load tests)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def number(name: str, default: float) -> float:
            raw = env.get(name, "")
            if not raw.strip():
                return default
            value = _non_negative(raw)
            if value is None:
                raise ValueError(f"{name} must be a non-negative number, got {raw!r}.")
            return value

        return cls(
            timing=Timing(
                ttft_s=number("LOCAL_PROVIDER_TTFT_MS", DEFAULT_TTFT_MS) / 1000,
                tokens_per_s=number("LOCAL_PROVIDER_TOKENS_PER_S", DEFAULT_TOKENS_PER_S),
            ),
            timeout_s=number("LOCAL_PROVIDER_TIMEOUT_S", DEFAULT_TIMEOUT_S),
            answer_tokens=_length(env.get("LOCAL_PROVIDER_ANSWER_TOKENS", ""), default=None),
        )


def _non_negative(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _request_timing(request: Request, default: Timing) -> Timing:
    """Per-request overrides: ``X-Dev-TTFT-Ms`` and ``X-Dev-Tokens-Per-S``."""
    ttft_s, rate = default.ttft_s, default.tokens_per_s
    raw = request.headers.get("x-dev-ttft-ms")
    if raw is not None:
        value = _non_negative(raw)
        if value is None:
            raise RequestError(400, "X-Dev-TTFT-Ms must be a non-negative number.")
        ttft_s = value / 1000
    raw = request.headers.get("x-dev-tokens-per-s")
    if raw is not None:
        value = _non_negative(raw)
        if value is None:
            raise RequestError(400, "X-Dev-Tokens-Per-S must be a non-negative number.")
        rate = value
    return Timing(ttft_s, rate)


def _answer_length(request: Request, default: int | None) -> int | None:
    """``X-Dev-Answer-Tokens: N``: make the answer exactly N tokens (load tests)."""
    raw = request.headers.get("x-dev-answer-tokens")
    return default if raw is None else _length(raw, default=None)


def _length(raw: str, *, default: int | None) -> int | None:
    raw = raw.strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= devmodel.MAX_ANSWER_TOKENS:
        raise RequestError(
            400,
            f"The answer length must be an integer from 1 to {devmodel.MAX_ANSWER_TOKENS}.",
        )
    return int(raw)


async def _sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic() >= deadline``. Re-checks because uvloop's timers
    have millisecond granularity and may wake a fraction of a millisecond early."""
    for _ in range(3):
        delay = deadline - time.monotonic()
        if delay <= 0:
            return
        await asyncio.sleep(delay)


def _error(exc: RequestError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _fault_response(fault: devmodel.Fault) -> JSONResponse | None:
    """The immediate response for a 429 / 500 fault; None for other faults."""
    if fault.kind == "429":
        return _error(
            RequestError(
                429,
                "Rate limit reached for the dev model (injected).",
                type="rate_limit_error",
                code="rate_limit_exceeded",
            ),
            headers={"Retry-After": "1"},
        )
    if fault.kind == "500":
        return _error(RequestError(500, "The dev model failed (injected).", type="server_error"))
    return None


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise RequestError(400, "The request body is not valid JSON.") from None


def _header_fault(request: Request) -> devmodel.Fault | None:
    raw = request.headers.get("x-dev-fault")
    return devmodel.parse_fault_header(raw) if raw is not None else None


# -- chat ----------------------------------------------------------------------------------


def _completion_body(
    request: devmodel.ChatRequest, completion: devmodel.Completion, chat_id: str, created: int
) -> dict[str, Any]:
    logprobs = None
    if completion.logprobs is not None:
        logprobs = {
            "content": [
                devmodel.logprob_entry(token, lp, request.top_logprobs)
                for token, lp in zip(completion.tokens, completion.logprobs, strict=True)
            ]
        }
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.content, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": completion.usage(),
    }


async def _stream(
    request: devmodel.ChatRequest,
    completion: devmodel.Completion,
    *,
    chat_id: str,
    created: int,
    first_token_at: float,
    tokens_per_s: float,
    cut: bool,
) -> AsyncIterator[bytes]:
    """The SSE body. Content chunk i is due at ``first_token_at + i / tokens_per_s``
    (targets from one start time, so sleeps never accumulate drift)."""
    # Every chunk shares this JSON prefix; per token only the token (and its logprob
    # entry) is serialised, the rest is string concatenation.
    head = (
        json.dumps(
            {"id": chat_id, "object": "chat.completion.chunk", "created": created},
            separators=(",", ":"),
        )[:-1]
        + f',"model":{json.dumps(request.model)},"system_fingerprint":null'
    )
    # OpenAI sends "usage":null on every chunk when usage was requested.
    tail = ',"usage":null}\n\n' if request.include_usage else "}\n\n"
    choice_head = f'data: {head},"choices":[{{"index":0,"delta":'
    plain_end = ',"logprobs":null,"finish_reason":null}]' + tail

    await _sleep_until(first_token_at)
    yield (choice_head + '{"role":"assistant","content":""}' + plain_end).encode()

    interval = 1 / tokens_per_s if tokens_per_s > 0 else 0.0
    dumps = json.dumps
    logprobs = completion.logprobs
    for i, token in enumerate(completion.tokens):
        if interval:
            await _sleep_until(first_token_at + i * interval)
        elif i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
        if logprobs is None:
            yield (choice_head + '{"content":' + dumps(token) + "}" + plain_end).encode()
        else:
            entry = _compact(devmodel.logprob_entry(token, logprobs[i], request.top_logprobs))
            yield (
                choice_head
                + '{"content":'
                + dumps(token)
                + '},"logprobs":{"content":['
                + entry
                + ']},"finish_reason":null}]'
                + tail
            ).encode()
    if cut:
        raise InjectedCut(f"cut after {len(completion.tokens)} tokens (injected)")
    finish = dumps(completion.finish_reason)
    yield (choice_head + '{},"logprobs":null,"finish_reason":' + finish + "}]" + tail).encode()
    if request.include_usage:
        usage = _compact(completion.usage())
        yield f'data: {head},"choices":[],"usage":{usage}}}\n\n'.encode()
    yield b"data: [DONE]\n\n"


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``. Order: validate (400/404), then the fault (header
    wins over the model's), then wait TTFT (and the timeout fault) and answer."""
    started = time.monotonic()
    settings: Settings = request.app.state.settings
    try:
        chat = devmodel.parse_chat_request(await _json_body(request))
        fault = _header_fault(request) or chat.model_fault
        timing = _request_timing(request, settings.timing)
        length = _answer_length(request, settings.answer_tokens)
    except RequestError as exc:
        return _error(exc)

    wait_s = 0.0
    cut_after: int | None = None
    if fault is not None:
        immediate = _fault_response(fault)
        if immediate is not None:
            return immediate
        if fault.kind == "timeout":
            wait_s = settings.timeout_s
        elif fault.kind == "cut":
            if not chat.stream:
                return _error(
                    RequestError(
                        500, "The dev model cut the response (injected).", type="server_error"
                    )
                )
            cut_after = fault.cut_after

    completion = devmodel.complete(chat, cut_after, length)
    chat_id = f"chatcmpl-dev-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    first_token_at = started + wait_s + timing.ttft_s
    if not chat.stream:
        await _sleep_until(first_token_at)
        return JSONResponse(_completion_body(chat, completion, chat_id, created))
    if wait_s:
        # A timeout fault holds back the response headers too, as a stuck upstream would.
        await _sleep_until(started + wait_s)
    body = _stream(
        chat,
        completion,
        chat_id=chat_id,
        created=created,
        first_token_at=first_token_at,
        tokens_per_s=timing.tokens_per_s,
        cut=cut_after is not None,
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


# -- embeddings ----------------------------------------------------------------------------


def _parse_embedding_request(body: Any) -> tuple[list[str], Literal["float", "base64"]]:
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' is required and must be a string.", param="model")
    if model != devmodel.EMBED_MODEL:
        raise devmodel.model_not_found(model, devmodel.EMBED_MODEL)
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise RequestError(400, "'input' must be a string or a list of strings.", param="input")
    if not texts:
        raise RequestError(400, "'input' must not be an empty list.", param="input")
    if len(texts) > MAX_INPUTS:
        raise RequestError(
            400, f"'input' may hold at most {MAX_INPUTS} strings, got {len(texts)}.", param="input"
        )
    encoding_format: Literal["float", "base64"]
    match body.get("encoding_format"):
        case None | "float":
            encoding_format = "float"
        case "base64":
            encoding_format = "base64"
        case _:
            raise RequestError(
                400, "'encoding_format' must be 'float' or 'base64'.", param="encoding_format"
            )
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or dimensions != DIMENSIONS):
        raise RequestError(
            400, f"local-embed has {DIMENSIONS} dimensions only.", param="dimensions"
        )
    return texts, encoding_format


def _embedding_body(
    embedder: Embedder, texts: list[str], encoding_format: Literal["float", "base64"]
) -> bytes:
    """Encode and serialise in one worker-thread call: for 512 inputs the JSON alone
    takes long enough that it must not run on the event loop either."""
    vectors, tokens = embedder.encode(texts, encoding_format)
    return json.dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": vector}
                for i, vector in enumerate(vectors)
            ],
            "model": devmodel.EMBED_MODEL,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        separators=(",", ":"),
    ).encode()


async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``. 503 with Retry-After while the model is still loading."""
    started = time.monotonic()
    settings: Settings = request.app.state.settings
    embedder: Embedder = request.app.state.embedder
    try:
        texts, encoding_format = _parse_embedding_request(await _json_body(request))
        fault = _header_fault(request)
    except RequestError as exc:
        return _error(exc)
    if fault is not None:
        immediate = _fault_response(fault)
        if immediate is not None:
            return immediate
        if fault.kind == "cut":
            return _error(
                RequestError(500, "The dev model cut the response (injected).", type="server_error")
            )
        await _sleep_until(started + settings.timeout_s)
    if embedder.state != "ready":
        detail = "is still loading" if embedder.state == "loading" else "failed to load"
        return _error(
            RequestError(503, f"The embedding model {detail}.", type="server_error"),
            headers={"Retry-After": "1"},
        )
    body = await run_in_threadpool(_embedding_body, embedder, texts, encoding_format)
    return Response(body, media_type="application/json")


# -- the rest ------------------------------------------------------------------------------


async def health(request: Request) -> JSONResponse:
    """200 once embeddings are ready; 503 while loading or after a failed load."""
    embedder: Embedder = request.app.state.embedder
    if embedder.state == "ready":
        return JSONResponse({"status": "ok", "embeddings": "ready"})
    if embedder.state == "loading":
        return JSONResponse({"status": "starting", "embeddings": "loading"}, status_code=503)
    return JSONResponse(
        {"status": "error", "embeddings": "failed", "detail": embedder.error}, status_code=503
    )


async def models(request: Request) -> JSONResponse:
    """The four listed models (fault models are accepted but not listed)."""
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "dev"}
        for name in devmodel.LISTED_MODELS
    ]
    return JSONResponse({"object": "list", "data": data})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods, in OpenAI's error shape."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    return JSONResponse(
        {
            "error": {
                "message": f"{exc.detail}: {request.method} {request.url.path}",
                "type": "invalid_request_error",
            }
        },
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _load(embedder: Embedder) -> None:
    """Load the embedding model, then freeze the start-up heap (torch's is large): the
    garbage collector's full passes would otherwise stall every stream for hundreds of
    milliseconds, which a real provider does not do (apps/core/heap.py)."""
    embedder.load()
    heap.set_thresholds(heap.DEFAULT_THRESHOLDS)
    heap.freeze_startup_heap()


def build_app(env: Mapping[str, str] | None = None) -> Starlette:
    """The ASGI app. Settings come from ``env`` (default: ``os.environ``) now; the
    embedding model starts loading in a background thread when the server starts, and
    ``/health`` answers 503 until it is ready (chat works meanwhile)."""
    settings = Settings.from_env(os.environ if env is None else env)
    embedder = Embedder()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _HideInjectedCuts) for f in uvicorn_errors.filters):
            uvicorn_errors.addFilter(_HideInjectedCuts())
        # A daemon thread, not the event loop: loading takes seconds and the server
        # should already answer /health (503) and chat meanwhile.
        threading.Thread(
            target=_load, args=(embedder,), name="load-embeddings", daemon=True
        ).start()
        yield

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            *batches.ROUTES,
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.embedder = embedder
    app.state.batches = batches.BatchStore(os.environ if env is None else env)
    return app


app = build_app()
