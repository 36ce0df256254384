"""The lean path: chat streams, whole answers and embeddings from OpenAI-compatible
deployments read straight off the wire, without LiteLLM's objects (docs/gateway.md,
"The relay").

LiteLLM turns every streamed chunk into pydantic objects and runs its logging and cost
hooks on it: about 0.4 ms of CPU per token, which caps one web worker at a few dozen
concurrent chat streams. Most deployments speak OpenAI's protocol (OpenAI itself, the
local provider, vLLM, Ollama, Together, Groq, …), whose stream is plain server-sent
events: this module posts the request with aiohttp and parses ``data:`` lines with
orjson, about 25 µs per token. A whole answer (``complete``) or a batch of embeddings
(``embed``) is one JSON body: LiteLLM spends ~8 ms of CPU on it (request building,
pydantic response objects, logging hooks), the relay well under one.

The relay handles the happy path only. ``relayable`` returns None when no deployment
of the alias speaks the protocol, and every call raises ``RelayUnavailable`` when the
provider fails before the answer starts (for a whole answer or embeddings: any failure,
since nothing reached the caller); the gateway then takes LiteLLM's Router, with its
retries, fallbacks and cooldowns. A deployment that failed COOL_AFTER times in a
row is skipped for GATEWAY_COOLDOWN_S, so an outage costs a few failed attempts, not one
per call.
"""

from __future__ import annotations

import asyncio
import atexit
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from django.conf import settings

from apps.gateway import router
from apps.gateway.router import Deployment

OPENAI_BASE = "https://api.openai.com/v1"
# A circuit breaker per deployment (base URL and model). A failed call goes to LiteLLM's
# Router (retries, fallbacks) on its own; only COOL_AFTER failures in a row send every
# call there, for GATEWAY_COOLDOWN_S. One blip (a reset connection, a single 429) must
# not move all traffic to the costlier path: under load that path's CPU cost is what
# makes the next calls fail.
COOL_AFTER = 3
# Deployment parameters that are OpenAI's own request fields: sent as they are. Any other
# parameter is LiteLLM's to interpret, so such a deployment stays on the Router.
OPENAI_NATIVE_PARAMS = frozenset({"dimensions"})
# What aiohttp raises when the connection was already closed as it wrote the request
# (its writer checks the transport before every write): the provider received no
# complete request, so sending it again cannot make it run twice ("The wire" below).
_NOT_WRITTEN = "Cannot write to closing transport"

# Process-wide state ---------------------------------------------------------------------
# _sessions: event loop -> its aiohttp session (keep-alive connections belong to the loop
#   that opened them). A server runs one loop for its lifetime; sync callers
#   (async_to_sync) and tests run loops one after another, whose sessions are closed when
#   a later one is made (_session) and at exit (_drop_all).
# _failures, _cooling: the circuit breaker, per deployment: the failures in a row, and
#   the monotonic time until which the relay leaves the deployment to LiteLLM. Per
#   process: each learns of an outage from its own calls (at most COOL_AFTER failed
#   attempts), so the streaming path needs no shared store.
# Read and written on event loops only, with no await between a read and its write: no
# lock needed. Tests start from no failures and nothing cooling with reset_breakers()
# (tests/gateway/conftest.py); sessions need no reset.
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
_failures: dict[str, int] = {}
_cooling: dict[str, float] = {}


class RelayUnavailable(Exception):
    """The provider failed before the answer started; nothing was streamed."""


# Made for every token: slots and no frozen-ness (a frozen dataclass sets each field
# through object.__setattr__, about twice the cost of building it).
@dataclass(slots=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _session() -> aiohttp.ClientSession:
    """One HTTP session (keep-alive connections) per event loop. A server runs one loop
    for its lifetime; sync callers (async_to_sync) run a loop per call, so the sessions
    of loops that have closed are dropped when a new one is made."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        for old_loop in [old for old in list(_sessions) if old.is_closed()]:
            _drop(_sessions.pop(old_loop))
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.GATEWAY_TIMEOUT_S, sock_read=settings.GATEWAY_TIMEOUT_S
        )
        # Idle connections are dropped before the provider drops them (uvicorn, under
        # vLLM and the local provider, closes them after 5 s): a request written to a
        # connection the provider is closing fails after it left, and is not resent.
        connector = aiohttp.TCPConnector(
            limit=0, ttl_dns_cache=300, keepalive_timeout=settings.GATEWAY_KEEPALIVE_S
        )
        session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        _sessions[loop] = session
    return session


@atexit.register
def _drop_all() -> None:
    while _sessions:
        _drop(_sessions.popitem()[1])


def _drop(session: aiohttp.ClientSession) -> None:
    """Close a session whose loop has closed. Its connector then only marks itself closed
    (transports of a closed loop cannot be awaited), so the coroutine finishes without
    suspending and is driven here without a loop."""
    closing = session.close()
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()  # it wanted to wait: leave the rest to the garbage collector


def relayable(alias: str) -> Deployment | None:
    """The first deployment of ``alias`` the relay can speak to, unless it is cooling down."""
    now = time.monotonic()
    for deployment in router.deployments_for(alias):
        if not deployment.model.startswith("openai/"):
            continue  # another protocol
        if not OPENAI_NATIVE_PARAMS.issuperset(deployment.params):
            continue  # LiteLLM-specific parameters to honour
        if _cooling.get(_cooling_key(deployment), 0.0) > now:
            continue
        return deployment
    return None


class RelayStream:
    """One streamed completion. Iterate for Chunks; ``aclose`` stops the provider."""

    def __init__(self, deployment: Deployment, response: aiohttp.ClientResponse) -> None:
        self.deployment = deployment
        self.served_model = deployment.model
        self._response = response

    async def chunks(self) -> AsyncIterator[Chunk]:
        buffer = b""
        content = self._response.content
        while True:
            data = await content.readany()
            if not data:
                if buffer.strip():
                    raise ConnectionError("The provider's stream ended mid-event.")
                raise ConnectionError("The provider closed the stream before [DONE].")
            # Every complete event of the read at once; the part after the last blank
            # line waits for the next read.
            events = (buffer + data if buffer else data).split(b"\n\n")
            buffer = events.pop()
            for event in events:
                # The usual event is one data line: no split for it.
                for line in event.split(b"\n") if b"\n" in event else (event,):
                    if not line.startswith(b"data:"):
                        continue  # comments, event names, ids: not part of OpenAI's stream
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        return
                    chunk = _parse(payload)
                    if chunk is not None:
                        yield chunk

    async def aclose(self) -> None:
        self._response.close()  # drops the connection: the provider stops generating


def _parse(payload: bytes) -> Chunk | None:
    body = orjson.loads(payload)
    if "error" in body:
        raise ConnectionError(f"The provider reported an error mid-stream: {body['error']}")
    usage = body.get("usage")
    choices = body.get("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta") or {}
        return Chunk(
            text=delta.get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens") if usage else None,
            completion_tokens=usage.get("completion_tokens") if usage else None,
        )
    if usage:
        return Chunk(
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )
    return None


async def open_stream(
    deployment: Deployment,
    *,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float,
    extra_headers: dict[str, str] | None = None,
) -> RelayStream:
    """Start the completion; returns once the provider answered 200, else raises
    RelayUnavailable (and counts a failure towards the deployment's cool-down)."""
    body = {
        **_model_fields(deployment),
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    response = await _post(deployment, "chat/completions", body, extra_headers)
    _succeeded(deployment)
    return RelayStream(deployment, response)


# Whole answers and embeddings ------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A whole chat answer, as the gateway bills and returns it."""

    served_model: str
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    mean_logprob: float | None = None


@dataclass(frozen=True)
class Embedded:
    served_model: str
    vectors: list[list[float]]
    prompt_tokens: int


async def complete(
    deployment: Deployment,
    *,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float,
    logprobs: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> Answer:
    """One whole answer. Any failure (connection, status, a body without the answer or
    its usage) raises RelayUnavailable: the caller has received nothing, so LiteLLM's
    Router may retry or fall back."""
    body: dict[str, Any] = {
        **_model_fields(deployment),
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if logprobs:
        body["logprobs"] = True
    data = await _post_json(deployment, "chat/completions", body, extra_headers)
    try:
        choice = data["choices"][0]
        usage = data["usage"]
        answer = Answer(
            served_model=deployment.model,
            content=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            mean_logprob=_mean_logprob(choice.get("logprobs")),
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        _failed(deployment)
        raise RelayUnavailable(f"Unexpected answer from the provider: {exc!r}") from exc
    _succeeded(deployment)
    return answer


async def embed(deployment: Deployment, texts: list[str]) -> Embedded:
    """Embeddings of ``texts`` in their order; RelayUnavailable on any failure."""
    body = {**_model_fields(deployment), "input": texts, "encoding_format": "float"}
    data = await _post_json(deployment, "embeddings", body, None)
    try:
        items = sorted(data["data"], key=lambda item: item["index"])
        embedded = Embedded(
            served_model=deployment.model,
            vectors=[item["embedding"] for item in items],
            prompt_tokens=int((data.get("usage") or {}).get("prompt_tokens") or 0),
        )
        if len(embedded.vectors) != len(texts):
            raise ValueError(f"{len(embedded.vectors)} vectors for {len(texts)} texts")
    except (KeyError, TypeError, ValueError) as exc:
        _failed(deployment)
        raise RelayUnavailable(f"Unexpected embeddings from the provider: {exc!r}") from exc
    _succeeded(deployment)
    return embedded


def _mean_logprob(logprobs: Any) -> float | None:
    """The mean token logprob of a choice's ``logprobs`` (the cascade's confidence)."""
    if not isinstance(logprobs, dict):
        return None
    values = [item["logprob"] for item in logprobs.get("content") or [] if "logprob" in item]
    return sum(values) / len(values) if values else None


# The wire ---------------------------------------------------------------------------------


def _model_fields(deployment: Deployment) -> dict[str, Any]:
    return {"model": deployment.model.split("/", 1)[1], **deployment.params}


async def _post(
    deployment: Deployment,
    path: str,
    body: dict[str, Any],
    extra_headers: dict[str, str] | None,
) -> aiohttp.ClientResponse:
    """POST ``body`` and return the 200 response (body unread); RelayUnavailable else."""
    base = (deployment.api_base or OPENAI_BASE).rstrip("/")
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    data = orjson.dumps(body)
    url = f"{base}/{path}"
    try:
        try:
            response = await _session().post(url, data=data, headers=headers)
        except aiohttp.ClientOSError as exc:
            if not _not_written(exc):
                raise
            # A kept-alive connection the provider had closed meanwhile, found closed
            # while writing: nothing reached the provider. Once more, on another
            # connection, before this counts as the deployment failing.
            response = await _session().post(url, data=data, headers=headers)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        _failed(deployment)
        raise RelayUnavailable(repr(exc)) from exc
    if response.status != 200:
        detail = (await response.read())[:300]
        response.close()
        _failed(deployment)
        raise RelayUnavailable(f"HTTP {response.status}: {detail!r}")
    return response


def _not_written(exc: BaseException) -> bool:
    """Whether the request failed before it was written (see _NOT_WRITTEN). Resending a
    POST is safe only then (RFC 9112, 9.3.1: a non-idempotent request is retried only
    when it is known not to have been applied; aiohttp itself retries on a reused
    connection only idempotent methods). A connection that breaks after the request
    went out (``ServerDisconnectedError`` before the response, a reset while reading)
    may have reached a provider that is now generating, and billing, the answer."""
    return any(
        isinstance(cause, aiohttp.ClientConnectionResetError) and str(cause) == _NOT_WRITTEN
        for cause in (exc, exc.__cause__)
    )


async def _post_json(
    deployment: Deployment,
    path: str,
    body: dict[str, Any],
    extra_headers: dict[str, str] | None,
) -> dict[str, Any]:
    response = await _post(deployment, path, body, extra_headers)
    try:
        async with response:
            data = orjson.loads(await response.read())
    except (aiohttp.ClientError, TimeoutError, OSError, orjson.JSONDecodeError) as exc:
        _failed(deployment)
        raise RelayUnavailable(f"Reading the provider's answer failed: {exc!r}") from exc
    if not isinstance(data, dict):
        _failed(deployment)
        raise RelayUnavailable(f"Unexpected answer from the provider: {str(data)[:300]}")
    return data


# The circuit breaker ------------------------------------------------------------------------


def _cooling_key(deployment: Deployment) -> str:
    return f"{deployment.api_base}|{deployment.model}"


def _succeeded(deployment: Deployment) -> None:
    _failures.pop(_cooling_key(deployment), None)


def _failed(deployment: Deployment) -> None:
    key = _cooling_key(deployment)
    _failures[key] = _failures.get(key, 0) + 1
    if _failures[key] >= COOL_AFTER:
        _failures.pop(key)
        _cooling[key] = time.monotonic() + settings.GATEWAY_COOLDOWN_S


def reset_breakers() -> None:
    """Forget every deployment's failures and cool-down (see "Process-wide state")."""
    _failures.clear()
    _cooling.clear()
