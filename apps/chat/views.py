from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.chat import access, attachments, quality, selectors, services, streams, tickets
from apps.chat.models import Conversation, FeedbackReason, Message, MessageStatus
from apps.core.asgi import lean, served_lean
from apps.core.errors import ServiceError
from apps.core.http import error_response, event_stream_response
from apps.gateway.models import CacheKind
from apps.gateway.selectors import semantic_hits, usage_by_request
from apps.gateway.services import cache_hit_report
from apps.rag import selectors as rag_selectors
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest
from apps.tenants.lean import run_as_member
from apps.tenants.member_cache import is_member


def get_conversation(request: MemberRequest, conversation_id: Any) -> Conversation:
    return access.get_conversation(
        tenant_id=request.tenant.id, user_id=request.user.pk, conversation_id=conversation_id
    )


def get_message(request: MemberRequest, message_id: Any) -> Message:
    return access.get_message(
        tenant_id=request.tenant.id, user_id=request.user.pk, message_id=message_id
    )


def _screen(
    request: MemberRequest, conversation: Conversation | None = None, **context: Any
) -> HttpResponse:
    """The one chat screen: the history panel (searchable) beside the open conversation,
    or the empty state with suggested prompts when none is open."""
    conversations = selectors.conversations_for(
        tenant_id=request.tenant.id, user_id=request.user.pk
    )
    query = request.GET.get("q", "").strip()
    if query:
        conversations = conversations.filter(title__icontains=query)
    screen = selectors.screen_settings(request.tenant)
    selected = screen.default_model
    if conversation is not None and any(
        m.allowed and m.alias == conversation.model_alias for m in screen.models
    ):
        selected = conversation.model_alias
    context |= {
        "conversations": conversations[:100],
        "q": query,
        "conversation": conversation,
        "suggested_prompts": screen.suggested_prompts,
        "models": screen.models,
        "selected_model": selected,
        "feedback_reasons": FeedbackReason.choices,
    }
    return render(request, "chat/screen.html", context)


def index(request: MemberRequest, slug: str) -> HttpResponse:
    return _screen(request)


@require_POST
def conversation_new(request: MemberRequest, slug: str) -> HttpResponse:
    """A new conversation; a suggested prompt picked on the empty screen arrives in its
    composer, ready to send, and a question typed there (send=1) is sent on arrival."""
    conversation = services.conversation_create(
        tenant=request.tenant,
        user=request.user,
    )
    url = reverse("chat:conversation", args=[slug, conversation.id])
    prompt = request.POST.get("prompt", "").strip()[:2000]
    if not prompt:
        return redirect(url)
    query = {"prompt": prompt} | ({"send": "1"} if request.POST.get("send") == "1" else {})
    return redirect(f"{url}?{urlencode(query)}")


def conversation(request: MemberRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    found = get_conversation(request, conversation_id)
    history = list(found.messages.all())
    if request.membership.can_manage:
        # Admins see what each answer cost, from the ledger (request id = message id).
        usage = usage_by_request(request.tenant, [str(m.id) for m in history], feature="chat")
        for message in history:
            message.usage = usage.get(str(message.id))  # type: ignore[attr-defined]
    # Answers from the semantic cache that were reported already say so.
    cached = [m.usage_record_id for m in history if m.cache == CacheKind.SEMANTIC]
    reported = set(
        semantic_hits(request.tenant, reported=True)
        .filter(usage_record_id__in=cached)
        .values_list("usage_record_id", flat=True)
        if cached
        else ()
    )
    rated = selectors.feedback_for(message_ids=[m.id for m in history], user_id=request.user.pk)
    for message in history:
        message.reported = message.usage_record_id in reported  # type: ignore[attr-defined]
        message.my_feedback = rated.get(message.id)  # type: ignore[attr-defined]
        if message.status == MessageStatus.STREAMING:
            message.events_url = events_url(request, slug, message)  # type: ignore[attr-defined]
    prefill = request.GET.get("prompt", "")[:2000]
    # Typed on the empty screen: the page sends it once loaded (an empty conversation only,
    # so a reload of the address cannot send it twice).
    autosend = bool(prefill) and request.GET.get("send") == "1" and not history
    return _screen(request, found, history=history, prefill=prefill, autosend=autosend)


@require_POST
def conversation_rename(request: MemberRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    found = get_conversation(request, conversation_id)
    try:
        services.conversation_rename(conversation=found, title=request.POST.get("title", ""))
    except ServiceError as exc:
        flash.error(request, exc.message)
    return redirect("chat:conversation", slug, found.id)


@require_POST
def conversation_delete(request: MemberRequest, slug: str, conversation_id: UUID) -> HttpResponse:
    services.conversation_delete(conversation=get_conversation(request, conversation_id))
    flash.success(request, "Conversation deleted.")
    return redirect("chat:index", slug)


@require_POST
def message_report(request: MemberRequest, slug: str, message_id: UUID) -> JsonResponse:
    """Report an answer served from the semantic cache as wrong: the cached answer is
    removed and the pair of questions kept for the organisation's evaluation."""
    message = get_message(request, message_id)
    if message.cache != CacheKind.SEMANTIC or message.usage_record_id is None:
        return error_response(
            400,
            "This answer did not come from the cache of similar questions, so there is "
            "nothing to remove. Regenerate it instead.",
            code="not_a_cache_hit",
        )
    try:
        cache_hit_report(
            tenant_id=str(request.tenant.id),
            usage_record_id=message.usage_record_id,
            reporter_id=request.user.pk,
            via="chat",
            note=request.POST.get("note", ""),
        )
    except ServiceError as exc:
        return _refused(exc)
    return JsonResponse(
        {"status": "reported", "message": "Thanks: this answer will not be reused again."}
    )


@require_POST
def message_feedback(request: MemberRequest, slug: str, message_id: UUID) -> JsonResponse:
    """Rate an answer (``rating`` up or down, an optional ``reason`` for a thumbs down and
    ``comment``), or change the rating; 200 with what is saved, 400 with what to fix."""
    message = get_message(request, message_id)
    try:
        feedback, _ = services.feedback_set(
            message=message,
            user=request.user,
            rating=request.POST.get("rating", ""),
            reason=request.POST.get("reason", ""),
            comment=request.POST.get("comment", ""),
            via="chat",
        )
    except services.InvalidFeedback as exc:
        return error_response(400, exc.message, code=exc.code, param=exc.param)
    except ServiceError as exc:
        return _refused(exc)
    return JsonResponse(
        {
            "rating": feedback.rating,
            "reason": feedback.reason,
            "comment": feedback.comment,
            "message": "Thanks for the feedback.",
        }
    )


@require_POST
def message_feedback_delete(request: MemberRequest, slug: str, message_id: UUID) -> JsonResponse:
    """Take back one's rating of an answer (200 whether or not there was one)."""
    services.feedback_delete(message=get_message(request, message_id), user=request.user)
    return JsonResponse({"rating": None, "message": "Feedback removed."})


QUALITY_WINDOWS = ("7", "30", "90")  # the page's choices of days; the API takes any 1-90


@manager_required
def quality_page(request: MemberRequest, slug: str) -> HttpResponse:
    """AI quality: the answers' signals per model and feature and per day (quality.py)."""
    raw = request.GET.get("days", str(quality.DEFAULT_DAYS))
    error = ""
    if raw not in QUALITY_WINDOWS:
        error = (
            f"Choose a window of {', '.join(QUALITY_WINDOWS)} days; showing the last "
            f"{quality.DEFAULT_DAYS}."
        )
        raw = str(quality.DEFAULT_DAYS)
    report = quality.quality_signals(tenant_id=request.tenant.id, days=int(raw))
    context = {
        "quality": report,
        "windows": QUALITY_WINDOWS,
        "days_error": error,
        # The ledger's side of the signals comes with the FinOps drain (docs/finops.md).
        "rollup_interval_s": settings.FINOPS_ROLLUP_INTERVAL_S,
    }
    return render(request, "chat/quality.html", context, status=400 if error else 200)


def events_url(request: MemberRequest, slug: str, message: Message) -> str:
    """The answer's event stream, with a ticket for this user (apps/chat/tickets.py)."""
    ticket = tickets.issue(
        tenant_id=message.tenant_id, slug=slug, user_id=request.user.pk, message_id=message.id
    )
    return f"{reverse('chat:events', args=[slug, message.id])}?{urlencode({'ticket': ticket})}"


def _refused(exc: ServiceError) -> JsonResponse:
    return error_response(400, exc.message, code=exc.code)


class Started(JsonResponse):
    """The 201 of a post that stored an answer to stream: which answer, for whom, and
    (served lean) the conversation before it, read in the same transaction."""

    def __init__(
        self,
        body: dict[str, str],
        *,
        answer: Message,
        user_id: Any,
        history: list[dict[str, str]] | None,
        claimed: bool,
    ) -> None:
        super().__init__(body, status=201)
        self.answer = answer
        self.user_id = user_id
        self.history = history
        self.claimed = claimed  # this process is to generate the answer (streams.claim)


def _started(
    request: MemberRequest,
    slug: str,
    answer: Message,
    question: Message | None = None,
    history: list[dict[str, str]] | None = None,
) -> Started:
    """201 with the answer to stream: its id, its events URL (with a ticket), Stop.
    ``history``: the conversation before the answer, when the caller has it."""
    body = {"user_message_id": str(question.id)} if question is not None else {}
    body |= {
        "message_id": str(answer.id),
        "events_url": events_url(request, slug, answer),
        "stop_url": reverse("chat:stop", args=[slug, answer.id]),
    }
    # For the generation the post starts (_answer_now): the history read in this
    # transaction instead of a thread hop and a transaction of its own.
    claimed = False
    if not served_lean(request):
        history = None
    else:
        if history is None:
            history = selectors.history_for(answer)
        # The claim's round trip on this thread, not the event loop (streams.claim). In
        # the transaction: should it fail to commit, nobody learns of the claimed message.
        claimed = streams.claim(tenant_id=answer.tenant_id, message_id=answer.id)
    return Started(body, answer=answer, user_id=request.user.pk, history=history, claimed=claimed)


def _answer_now(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Start generating the answer a post stored and claimed, before the browser asks for
    its events: the provider's first token is on its way while the 201 travels and the
    event stream is opened (which then finds the generation running,
    streams.ensure_generation). No wait: the post's thread made the claim.
    Served lean only: under the test client or WSGI the request's event loop ends with
    the request, and the events request starts the generation as before."""
    if served_lean(request) and isinstance(response, Started) and response.claimed:
        streams.start_claimed(
            tenant_id=response.answer.tenant_id,
            user_id=response.user_id,
            message_id=response.answer.id,
            prepared=None if response.history is None else (response.answer, response.history),
        )
    return response


@require_POST
@lean
async def message_send(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponseBase:
    """Store the question and an empty answer, and start generating it; 201 with the
    answer's events URL. Served lean, like the events (apps/core/asgi.py): it is half of
    every message's cost."""
    return _answer_now(request, await run_as_member(request, slug, _send, conversation_id))


@require_POST
@lean
async def message_regenerate(
    request: HttpRequest, slug: str, conversation_id: UUID
) -> HttpResponseBase:
    response = await run_as_member(request, slug, _regenerate, conversation_id)
    return _answer_now(request, response)


@require_POST
@lean
async def message_edit(request: HttpRequest, slug: str, conversation_id: UUID) -> HttpResponseBase:
    return _answer_now(request, await run_as_member(request, slug, _edit, conversation_id))


def _send(request: MemberRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    # The conversation, its newest message and its history in one query.
    posting = access.get_posting(
        tenant_id=request.tenant.id, user_id=request.user.pk, conversation_id=conversation_id
    )
    try:
        question, answer, history = services.message_post_to(
            posting=posting,
            content=request.POST.get("content", ""),
            plan=request.tenant.plan,
            model=request.POST.get("model", ""),
        )
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer, question, history)


def _regenerate(request: MemberRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    try:
        answer = services.message_regenerate(
            conversation=found, plan=request.tenant.plan, model=request.POST.get("model", "")
        )
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer)


def _edit(request: MemberRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    try:
        question, answer = services.message_edit_last(
            conversation=found,
            content=request.POST.get("content", ""),
            plan=request.tenant.plan,
            model=request.POST.get("model", ""),
        )
    except ServiceError as exc:
        return _refused(exc)
    return _started(request, slug, answer, question)


@require_POST
async def message_stop(request: MemberRequest, slug: str, message_id: UUID) -> JsonResponse:
    message = await sync_to_async(get_message)(request, message_id)
    await streams.request_stop(tenant_id=message.tenant_id, message_id=message.id)
    return JsonResponse({"status": "stopping"}, status=202)


def _sse(events: list[streams.Event]) -> bytes:
    """Server-sent events, several per write when several are ready."""
    out = []
    for event_id, kind, data in events:
        if kind == "token" and event_id:  # most events: straight to bytes
            out.append(
                b"id: %b\nevent: token\ndata: %b\n\n" % (event_id.encode(), orjson.dumps(data))
            )
            continue
        if kind == "ping":
            out.append(b": ping\n\n")
            continue
        if kind == "token":
            data = orjson.dumps(data).decode()
        lines = "".join(f"data: {line}\n" for line in (data.split("\n") if data else [""]))
        head = f"id: {event_id}\n" if event_id else ""
        out.append(f"{head}event: {kind}\n{lines}\n".encode())
    return b"".join(out)


@require_GET
@lean
async def message_events(request: HttpRequest, slug: str, message_id: UUID) -> HttpResponseBase:
    """Server-sent events of one answer; honours Last-Event-ID to resume.

    Served without the session middleware (apps/core/asgi.py): the ticket in the URL and
    the session cookie say who may read (apps/chat/tickets.py). Anything wrong is a 404
    that tells nothing, as for someone else's message.
    """
    ticket = tickets.read(request.GET.get("ticket", ""), slug=slug, message_id=message_id)
    if ticket is None:
        raise Http404("No such message, or the link expired: reload the page.")
    # Both checks at once: on a busy event loop each wait costs a turn of it, before the
    # first token (the session on a worker thread, the membership from Redis).
    session_user, member = await asyncio.gather(
        tickets.session_user_id(request.COOKIES.get(settings.SESSION_COOKIE_NAME)),
        is_member(tenant_id=ticket.tenant_id, user_id=ticket.user_id),
    )
    if session_user != ticket.user_id or not member:
        raise Http404("No such message, or the link expired: reload the page.")
    # Starts the generation unless it runs (or ran) somewhere; the generation itself
    # checks that the message is still unanswered.
    await streams.ensure_generation(
        tenant_id=ticket.tenant_id, user_id=ticket.user_id, message_id=message_id
    )
    last_id = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    events = streams.read_events(tenant_id=ticket.tenant_id, message_id=message_id, last_id=last_id)
    return event_stream_response(events, encode=_sse)


# -- attachments (apps/chat/attachments.py) -------------------------------------------------


def attachment_list(request: MemberRequest, slug: str, conversation_id: UUID) -> JsonResponse:
    """GET: the conversation's files, for the chips' progress. POST (multipart ``file``):
    attach one; 201 with it, 200 with ``duplicate`` when these bytes are attached already,
    413 / 415 / 400 / 409 with a message that says what to do, and nothing stored."""
    found = get_conversation(request, conversation_id)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            return error_response(400, "Choose a file to attach.", code="no_file", param="file")
        try:
            document, created = attachments.attachment_add(conversation=found, file=upload)
        except ServiceError as exc:
            status = attachments.refusal_status(exc)
            return error_response(status, exc.message, code=exc.code, param="file")
        fresh = attachments.attachment_of(found, document.id) or document
        body = {**attachments.as_json(slug, found, fresh), "duplicate": not created}
        return JsonResponse(body, status=201 if created else 200)
    if request.method != "GET":
        return error_response(405, "Use GET or POST.", code="method_not_allowed")
    items = [attachments.as_json(slug, found, d) for d in attachments.attachments_of(found)]
    return JsonResponse({"attachments": items})


@require_POST
def attachment_delete(
    request: MemberRequest, slug: str, conversation_id: UUID, document_id: UUID
) -> JsonResponse:
    found = get_conversation(request, conversation_id)
    document = attachments.attachment_of(found, document_id)
    if document is None:
        raise Http404("No such file in this conversation.")
    attachments.attachment_remove(conversation=found, document=document)
    return JsonResponse({"id": str(document_id), "deleted": True})


@require_GET
def attachment(
    request: MemberRequest, slug: str, conversation_id: UUID, document_id: UUID
) -> HttpResponse:
    """A file's passages, where an answer's citation of it leads (``#chunk-<id>``)."""
    found = get_conversation(request, conversation_id)
    document = attachments.attachment_of(found, document_id)
    if document is None:
        raise Http404("No such file in this conversation.")
    context = {
        "conversation": found,
        "document": document,
        "chunks": list(rag_selectors.chunks_of(document)),
    }
    return render(request, "chat/attachment.html", context)
