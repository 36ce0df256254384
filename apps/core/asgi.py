"""One URLconf, two handlers: lean views skip the synchronous middleware stack.

Django's middleware stack (sessions, authentication, CSRF, messages, the tenant
middleware) is synchronous: under ASGI every request through it gets a thread made for
it, hops between that thread and the event loop four times, and loads the session, the
user and the membership. For ordinary pages that is the right trade. For the chat's hot
path (a message posted, then its answer's event stream, for every message) it was most
of the cost of the request (docs/adr/0003-lean-handler.md; figures in docs/performance.md).

Views marked ``@lean`` are served by ``LeanHandler``: the same URLconf, the same view
API, but only ``settings.LEAN_MIDDLEWARE`` around them, all of it async, and no thread of
their own: the ``request_started``/``request_finished`` receivers run on the event loop
(``LeanHandler.handle`` says why that is safe), any other thread-sensitive call on the
shared worker pool (``WorkerPoolContext``) instead of a per-request thread, and the
view's synchronous work goes to that pool in one hop
(``apps.tenants.lean.run_as_member``). Such a view gets no ``request.user`` or
``request.session`` from middleware: it authenticates the request itself, with Django's
own CSRF and session checks (``apps.core.lean``) or a signed ticket (the chat's events,
``apps.chat.tickets``). Anything else goes to Django's usual handler. Under WSGI or the
test client the marked views run through the full stack; ``served_lean`` tells them
apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.dispatch import Signal
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix
from django.utils.module_loading import import_string

from apps.core.db import worker_pool

View = TypeVar("View", bound=Callable[..., Any])
_MARK = "served_lean"
_RESOLVED = "starter.lean_match"  # the scope's key for the path and view found

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def lean(view: View) -> View:
    """Serve this async view through ``LeanHandler`` (see the module docstring)."""
    setattr(view, _MARK, True)
    return view


def served_lean(request: HttpRequest) -> bool:
    """Whether ``LeanHandler`` serves this request (else the full middleware stack ran)."""
    return bool(getattr(request, _MARK, False))


class WorkerPoolContext(ThreadSensitiveContext):
    """A request's context whose thread-sensitive ``sync_to_async`` calls run on the
    process's worker pool (``apps.core.db.worker_pool``), each on whichever thread is
    free: for a lean request, whose few such calls (the signals and the response's close
    when an async receiver sends them Django's way) need no thread of their own, since
    its database work opens and closes its own transaction and connection
    (``in_worker_thread``). Not for code that needs consecutive calls on one thread
    (``atenant_context``)."""

    async def __aenter__(self) -> WorkerPoolContext:
        await super().__aenter__()  # type: ignore[no-untyped-call]
        if self.token is not None:  # the outermost context: calls in it come here
            SyncToAsync.context_to_thread_executor[self] = worker_pool()
        return self

    async def __aexit__(self, exc: object, value: object, tb: object) -> None:
        # The pool is shared: take it out before the base class shuts "its" executor down.
        SyncToAsync.context_to_thread_executor.pop(self, None)
        await super().__aexit__(exc, value, tb)  # type: ignore[no-untyped-call]


class LeanHandler(ASGIHandler):
    """Django's ASGI handler with ``settings.LEAN_MIDDLEWARE`` as its middleware and no
    per-request thread."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Django's handler opens a ThreadSensitiveContext per request, which starts a
        # thread for the first thread-sensitive call in it. Without one, such calls of
        # every lean request of the process queued on asgiref's one shared thread
        # (seconds at 300 streams); here they go to the worker pool.
        if scope["type"] != "http":
            raise ValueError(f"LeanHandler serves HTTP only, not {scope['type']}.")
        async with WorkerPoolContext():
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Django's ``ASGIHandler.handle`` (5.2), but ``request_started`` and the
        response's close (which sends ``request_finished``) run on the event loop, not
        through ``sync_to_async``: each was a hop to a worker thread and back, two turns
        of a busy loop before the post's own work and one after. Their receivers have
        nothing to do here: Django's (``reset_queries``, ``close_old_connections``)
        act on the connections this thread opened, and the event loop's thread opens
        none (a query there raises ``SynchronousOnlyOperation``); a lean view's database
        work runs on pooled threads that hand their connection back after each call
        (``in_worker_thread``). Should an async receiver ever be connected, the signals
        go Django's way (``_inline``)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        inline = _inline(signals.request_started) and _inline(signals.request_finished)
        if inline:
            signals.request_started.send(sender=self.__class__, scope=scope)
        else:
            await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # noqa: S101 - Django returns one or the other
            body_file.close()
            await self.send_response(error_response, send)
            await _close(error_response, inline)
            return

        async def process_request(request: HttpRequest, send: Send) -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client disconnected
                await self.send_response(response, send)
            return response

        # As Django does: the disconnect listener first, so that it cannot keep
        # process_request from being cancelled.
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process_request(request, send))
        tasks: list[asyncio.Task[Any]] = [listening, processing]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass  # the client disconnected
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()  # views may handle the cancellation
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = processing.result()
        except asyncio.CancelledError:
            if inline:
                signals.request_finished.send(sender=self.__class__)
            else:
                await signals.request_finished.asend(sender=self.__class__)
        else:
            await _close(response, inline)
        body_file.close()

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """The view ``Application`` resolved to route the request here (resolving a path
        walks the URLconf: a cost per request); Django's own resolution otherwise."""
        found: tuple[str, ResolverMatch] | None = getattr(request, "scope", {}).get(_RESOLVED)
        if found is None or found[0] != request.path_info or hasattr(request, "urlconf"):
            resolved: ResolverMatch = super().resolve_request(request)
            return resolved
        request.resolver_match = found[1]
        return found[1]

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, _MARK, True)
        response: HttpResponseBase = await super().get_response_async(request)
        return response

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]
        for path in reversed(settings.LEAN_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise ImproperlyConfigured(f"{path} in LEAN_MIDDLEWARE must be async-capable.")
            handler = convert_exception_to_response(middleware(handler))
        self._middleware_chain = handler


def _inline(signal: Signal) -> bool:
    """Whether every receiver of ``signal`` is synchronous (Django keeps
    ``(key, receiver, is_async)`` per receiver), so that it can be sent on the loop."""
    return not any(entry[2] for entry in signal.receivers)


async def _close(response: HttpResponseBase, inline: bool) -> None:
    if inline:
        response.close()
    else:
        await sync_to_async(response.close)()


class Application:
    """The project's ASGI application: routes each HTTP request to one of the handlers."""

    def __init__(self, django: ASGIHandler, lean: LeanHandler) -> None:
        self.django = django
        self.lean = lean

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _lean_match(scope)
        if found is None:
            await self.django(scope, receive, send)
            return
        scope[_RESOLVED] = found  # LeanHandler.resolve_request: not resolved twice
        await self.lean(scope, receive, send)


def _lean_match(scope: Scope) -> tuple[str, ResolverMatch] | None:
    """The path and view of a request for a view marked ``@lean``; None for others."""
    if scope["type"] != "http":
        return None
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return None
    return (path, match) if getattr(match.func, _MARK, False) else None
