from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.chat import selectors, services, streams, tickets
from apps.chat.models import Conversation, Message, MessageStatus
from apps.core.asgi import lean
from apps.core.errors import ServiceError
from apps.gateway.selectors import usage_by_request
from apps.tenants.access import current_membership, current_tenant
from apps.tenants.lean import run_as_member


def get_conversation(request: HttpRequest, conversation_id: Any) -> Conversation:
    """The user's own conversation in the URL's tenant, else 404."""
    mine = selectors.conversations_for(
        tenant_id=current_tenant(request).id, user_id=request.user.pk
    )
    try:
        return mine.get(id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def get_message(request: HttpRequest, message_id: Any) -> Message:
    found = (
        Message.objects.select_related("conversation")
        .filter(
            id=message_id,
            tenant_id=current_tenant(request).id,
            conversation__user_id=request.user.pk or 0,
        )
        .first()
    )
    if found is None:
        raise Http404("No such message.")
    return found


def index(request: HttpRequest, slug: str) -> HttpResponse:
    conversations = selectors.conversations_for(
        tenant_id=current_tenant(request).id, user_id=request.user.pk
    )
    query = request.GET.get("q", "").strip()
    if query:
        conversations = conversations.filter(title__icontains=query)
    return render(request, "chat/index.html", {"conversations": conversations[:100], "q": query})


@require_POST
def conversation_new(request: HttpRequest, slug: str) -> HttpResponse:
    conversation = services.conversation_create(
        tenant=current_tenant(request),
        user=request.user,  # type: ignore[arg-type]
    )
    return redirect("chat:conversation", slug, conversation.id)


def conversation(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    found = get_conversation(request, conversation_id)
    history = list(found.messages.all())
    if current_membership(request).can_manage:
        # Admins see what each answer cost, from the ledger (request id = message id).
        usage = usage_by_request(
            current_tenant(request), [str(m.id) for m in history], feature="chat"
        )
        for message in history:
            message.usage = usage.get(str(message.id))  # type: ignore[attr-defined]
    for message in history:
        if message.status == MessageStatus.STREAMING:
            message.events_url = events_url(request, slug, message)  # type: ignore[attr-defined]
    return render(request, "chat/conversation.html", {"conversation": found, "history": history})


@require_POST
def conversation_rename(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    found = get_conversation(request, conversation_id)
    try:
        services.conversation_rename(conversation=found, title=request.POST.get("title", ""))
    except ServiceError as exc:
        flash.error(request, exc.message)
    return redirect("chat:conversation", slug, found.id)


@require_POST
def conversation_delete(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    services.conversation_delete(conversation=get_conversation(request, conversation_id))
    flash.success(request, "Conversation deleted.")
    return redirect("chat:index", slug)


def events_url(request: HttpRequest, slug: str, message: Message) -> str:
    """The answer's event stream, with a ticket for this user (apps/chat/tickets.py)."""
    ticket = tickets.issue(
        tenant_id=message.tenant_id, slug=slug, user_id=request.user.pk, message_id=message.id
    )
    return f"{reverse('chat:events', args=[slug, message.id])}?{urlencode({'ticket': ticket})}"


def _refused(exc: ServiceError) -> JsonResponse:
    return JsonResponse({"error": {"message": exc.message, "code": exc.code}}, status=400)


def _started(
    request: HttpRequest, slug: str, answer: Message, question: Message | None = None
) -> JsonResponse:
    """201 with the answer to stream: its id, its events URL (with a ticket), Stop."""
    body = {"user_message_id": str(question.id)} if question is not None else {}
    body |= {
        "message_id": str(answer.id),
        "events_url": events_url(request, slug, answer),
        "stop_url": reverse("chat:stop", args=[slug, answer.id]),
    }
    return JsonResponse(body, status=201)


@require_POST
@lean
async def message_send(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponseBase:
    """Store the question and an empty answer; 201 with the answer's events URL. Served
    lean, like the events (apps/core/asgi.py): it is half of every message's cost."""
    return await run_as_member(request, slug, _send, conversation_id)


@require_POST
@lean
async def message_regenerate(
    request: HttpRequest, slug: str, conversation_id: UUID
) -> HttpResponseBase:
    return await run_as_member(request, slug, _regenerate, conversation_id)


@require_POST
@lean
async def message_edit(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponseBase:
    return await run_as_member(request, slug, _edit, conversation_id)


def _send(request: HttpRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    try:
        question, answer = services.message_post(
            conversation=found, content=request.POST.get("content", "")
        )
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer, question)


def _regenerate(request: HttpRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    try:
        answer = services.message_regenerate(conversation=found)
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer)


def _edit(request: HttpRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    try:
        question, answer = services.message_edit_last(
            conversation=found, content=request.POST.get("content", "")
        )
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer, question)


@require_POST
async def message_stop(request: HttpRequest, slug: str, message_id: UUID) -> JsonResponse:
    message = await sync_to_async(get_message)(request, message_id)
    await streams.request_stop(tenant_id=message.tenant_id, message_id=message.id)
    return JsonResponse({"status": "stopping"}, status=202)


def _sse(events: list[streams.Event]) -> bytes:
    """Server-sent events, several per write when several are ready."""
    out = []
    for event_id, kind, data in events:
        if kind == "ping":
            out.append(": ping\n\n")
            continue
        if kind == "token":
            data = orjson.dumps(data).decode()
        lines = "".join(f"data: {line}\n" for line in (data.split("\n") if data else [""]))
        head = f"id: {event_id}\n" if event_id else ""
        out.append(f"{head}event: {kind}\n{lines}\n")
    return "".join(out).encode()


async def _event_stream(batches: AsyncIterator[list[streams.Event]]) -> AsyncIterator[bytes]:
    async for batch in batches:
        yield _sse(batch)


@require_GET
@lean
async def message_events(request: HttpRequest, slug: str, message_id: UUID) -> HttpResponseBase:
    """Server-sent events of one answer; honours Last-Event-ID to resume.

    Served without the session middleware (apps/core/asgi.py): the ticket in the URL and
    the session cookie say who may read (apps/chat/tickets.py). Anything wrong is a 404
    that tells nothing, as for someone else's message.
    """
    ticket = tickets.read(request.GET.get("ticket", ""), slug=slug, message_id=message_id)
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if ticket is None or await tickets.session_user_id(session_key) != ticket.user_id:
        raise Http404("No such message, or the link expired: reload the page.")
    # Starts the generation unless it runs (or ran) somewhere; the generation itself
    # checks that the message is still unanswered.
    await streams.ensure_generation(
        tenant_id=ticket.tenant_id, user_id=ticket.user_id, message_id=message_id
    )
    last_id = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    events = streams.read_events(tenant_id=ticket.tenant_id, message_id=message_id, last_id=last_id)
    response = StreamingHttpResponse(_event_stream(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"
    response["X-Content-Type-Options"] = "nosniff"
    return response
