"""Responses every app shares: the one JSON error shape and the event-stream response.

The error shape is OpenAI's, ``{"error": {"message", "type", "param", "code"}}``: the
API speaks it (apps/api/errors.py adds the API's own mappings) and so do the JSON
endpoints behind pages (the chat's posts), so one client-side reader handles both.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse

from apps.core.metrics import SSE_STREAMS


class TracedRequest(HttpRequest):
    """Every request: ``RequestContextMiddleware`` gives it an id (a safe incoming
    ``X-Request-ID``, else a new one), bound to its log lines and echoed in the response.
    The request types of pages and the API build on it."""

    request_id: str


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    status: int, message: str, *, code: str, param: str | None = None, type_: str | None = None
) -> dict[str, dict[str, str | None]]:
    """``type`` follows from the status unless given (OpenAI names a few on its own)."""
    return {
        "error": {
            "message": message,
            "type": type_ or ERROR_TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    type_: str | None = None,
    retry_after: float | None = None,
) -> JsonResponse:
    """An error answer; ``retry_after`` (seconds) becomes a ``Retry-After`` header."""
    response = JsonResponse(
        error_body(status, message, code=code, param=param, type_=type_), status=status
    )
    if retry_after:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


class EventStreamResponse(StreamingHttpResponse):
    """Server-sent events, counted in ``sse_streams_active`` while the server sends them.

    The server reads the events straight from the view's iterator: Django's own path
    wraps every chunk in two more async generators (one to coerce it to bytes, one for
    ``__aiter__``), a cost per write across hundreds of open streams on one loop. With
    ``encode`` the iterator yields batches of events and the same generator that counts
    the stream turns each into bytes (one generator fewer per write than a view's own
    encoding generator)."""

    def __init__(
        self,
        events: AsyncIterator[Any],
        *,
        encode: Callable[[Any], bytes] | None = None,
        **kwargs: Any,
    ) -> None:
        self._events = events
        self._encode = encode
        # Django's own readers (``streaming_content``, the sync test client) get bytes.
        content = events if encode is None else self._encoded()
        super().__init__(content, content_type="text/event-stream", **kwargs)

    async def _encoded(self) -> AsyncGenerator[bytes]:
        assert self._encode is not None  # noqa: S101 - only made with an encoder
        async for batch in self._events:
            yield self._encode(batch)

    async def __aiter__(self) -> AsyncGenerator[bytes]:
        SSE_STREAMS.inc()
        try:
            if self._encode is None:
                async for chunk in self._events:
                    yield chunk
            else:
                encode = self._encode
                async for batch in self._events:
                    yield encode(batch)
        finally:
            SSE_STREAMS.dec()


def event_stream_response(
    events: AsyncIterator[Any], *, encode: Callable[[Any], bytes] | None = None
) -> EventStreamResponse:
    """Server-sent events from an ASYNC iterator (Django buffers a sync one under ASGI)
    of bytes, or of anything ``encode`` turns into bytes; with the headers that stop
    proxies and browsers from buffering, caching or sniffing."""
    response = EventStreamResponse(events, encode=encode)
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"
    response["X-Content-Type-Options"] = "nosniff"
    return response
