"""Request id and log context for every request; pooled connections for streams; health
probes that answer whatever the Host header."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from apps.core import views
from apps.core.db import release_connection
from apps.core.http import TracedRequest
from apps.core.logging import bind_log_context
from apps.core.metrics import HTTP_DURATION, HTTP_REQUESTS

logger = logging.getLogger("apps.request")
# Metric labels stay bounded: a client may send any method name.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class _SyncAndAsync:
    """A middleware Django can run in either mode: ``__call__`` returns ``_acall``'s
    coroutine when the inner handler is async, so no thread hop is added."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        raise NotImplementedError


class RequestContextMiddleware(_SyncAndAsync):
    """Gives each request an id (kept from X-Request-ID when well-formed), binds it to
    every log line, echoes it in the response and logs one line per request.

    Async-capable so that under ASGI the id is bound in the event loop, before Django
    hops to worker threads: log lines written anywhere in the request (including the
    handler's own error logging) carry it.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id, started = self._begin(request)
        with bind_log_context(request_id=request_id):
            response: HttpResponse = self.get_response(request)
            return self._finish(request, response, request_id, started)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id, started = self._begin(request)
        with bind_log_context(request_id=request_id):
            get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
            response = await get_response(request)
            return self._finish(request, response, request_id, started)

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[str, float]:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        cast(TracedRequest, request).request_id = request_id
        return request_id, time.perf_counter()

    @staticmethod
    def _finish(
        request: HttpRequest, response: HttpResponse, request_id: str, started: float
    ) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, SimpleLazyObject) and getattr(user, "_wrapped", empty) is empty:
            user = None  # Never loaded by the request: do not query for it here.
        tenant = getattr(request, "tenant", None)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        view = (match.view_name if match is not None else "") or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(view).observe(elapsed)
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                "tenant_id": str(tenant.id) if tenant is not None else None,
            },
        )
        response["X-Request-ID"] = request_id
        return response


class StreamingConnectionMiddleware(_SyncAndAsync):
    """Gives the database connection back to the pool when a view returns a stream.

    Django returns a request's connection when the response is closed, which for a
    server-sent event stream is minutes later: a few hundred open chats would hold every
    pooled connection. This runs after every inner middleware has finished with the
    response (the session middleware may write), so the stream itself holds none.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        response = self.get_response(request)
        if response.streaming:
            connection.close()
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
        response = await get_response(request)
        if response.streaming:
            await release_connection()
        return response


class ProbeMiddleware(_SyncAndAsync):
    """Answers the liveness and readiness probes before anything reads the Host header.

    A container's health check or a load balancer calls the process by its own address
    (``http://127.0.0.1:8000/readyz``), which production's ``DJANGO_ALLOWED_HOSTS`` need
    not list: past this point the host check would answer 400 and the container would be
    reported unhealthy. The probes say only up or down, so answering them whatever the
    host gives nothing away. It sits before ``SecurityMiddleware``, whose HTTPS redirect
    reads the host too; every other path goes on as before.
    """

    def __call__(self, request: HttpRequest) -> Any:
        probe = _probe(request)
        if self.is_async:
            return self._acall(request, probe)
        return probe(request) if probe else self.get_response(request)

    async def _acall(
        self, request: HttpRequest, probe: Callable[[HttpRequest], HttpResponse] | None
    ) -> HttpResponse:
        if probe is not None:
            # readyz asks the database and Redis, synchronously: off the event loop.
            return await sync_to_async(probe)(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
        return await get_response(request)


_PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
}


def _probe(request: HttpRequest) -> Callable[[HttpRequest], HttpResponse] | None:
    return _PROBES.get(request.path_info) if request.method in ("GET", "HEAD") else None
