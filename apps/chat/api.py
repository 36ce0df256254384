"""Conversations, feedback on answers and the quality signals over the API (django-ninja
Router, mounted by config/api.py).

A key acts for the member who created it: it reads that member's conversations in its
organisation (scope ``read``) and rates their answers (scope ``chat``, like the question
that got the answer). Chatting itself is ``POST /api/v1/chat/completions``. The quality
signals are the organisation's (scope ``read``; docs/chat.md, "Quality signals").
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status

from apps.api.auth import KeyRequest, require_scope
from apps.api.errors import ApiError
from apps.api.scopes import Scope
from apps.chat import quality, selectors, services
from apps.chat.access import get_conversation, get_message
from apps.chat.models import Conversation, Feedback, FeedbackReason, Rating
from apps.core.errors import ServiceError

router = Router(tags=["conversations"])


class FeedbackOut(Schema):
    message_id: str
    rating: str
    reason: str
    comment: str
    created_at: str
    updated_at: str


class MessageOut(Schema):
    id: str
    role: str
    content: str
    status: str
    created_at: str
    # Answers from documents: "sources" (passages retrieved), "citations" (each [n]
    # checked: valid, supported), or a "notice"; {} otherwise. See docs/chat.md.
    rag: dict[str, Any]
    # The key creator's rating of an answer; null when none.
    feedback: FeedbackOut | None


class ConversationOut(Schema):
    id: str
    title: str
    created_at: str
    updated_at: str


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


def _conversation_dict(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


@router.get(
    "/conversations",
    response=list[ConversationOut],
    summary="Conversations of the key's creator in this organisation, newest first",
)
def conversations(request: KeyRequest, limit: int = 50) -> list[dict[str, Any]]:
    key = require_scope(request.api_key, Scope.READ)
    found = selectors.conversations_for(tenant_id=key.tenant_id, user_id=key.created_by_id or 0)
    return [_conversation_dict(c) for c in found[: max(1, min(limit, 200))]]


@router.get(
    "/conversations/{conversation_id}",
    response=ConversationDetailOut,
    summary="One conversation with its messages",
)
def conversation(request: KeyRequest, conversation_id: uuid.UUID) -> dict[str, Any]:
    key = require_scope(request.api_key, Scope.READ)
    found = get_conversation(
        tenant_id=key.tenant_id, user_id=key.created_by_id, conversation_id=conversation_id
    )
    messages = list(found.messages.all())
    rated = selectors.feedback_for(message_ids=[m.id for m in messages], user_id=key.created_by_id)
    return {
        **_conversation_dict(found),
        "messages": [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "rag": m.rag,
                "feedback": _feedback_dict(rated[m.id]) if m.id in rated else None,
            }
            for m in messages
        ],
    }


# -- feedback on answers --------------------------------------------------------------------


class FeedbackIn(Schema):
    rating: Rating = Field(description='"up" or "down"')
    reason: FeedbackReason | None = Field(
        None, description="Why a thumbs down: " + ", ".join(FeedbackReason.values)
    )
    comment: str = Field("", description="Free text, at most 1,000 characters")


def _feedback_dict(feedback: Feedback) -> dict[str, Any]:
    return {
        "message_id": str(feedback.message_id),
        "rating": feedback.rating,
        "reason": feedback.reason,
        "comment": feedback.comment,
        "created_at": feedback.created_at.isoformat(),
        "updated_at": feedback.updated_at.isoformat(),
    }


@router.post(
    "/messages/{message_id}/feedback",
    response={200: FeedbackOut, 201: FeedbackOut},
    summary="Rate an answer (thumbs up or down, a reason, a comment), or change the rating",
)
def feedback_set(
    request: KeyRequest, message_id: uuid.UUID, body: FeedbackIn
) -> Status[dict[str, Any]]:
    """201 with the new rating, 200 when it changed the key creator's earlier one. 404 for
    a message that is not in one of their conversations in this organisation; 400 for a
    question (only answers are rated), an answer still streaming, or a reason with a
    thumbs up."""
    key = require_scope(request.api_key, Scope.CHAT)
    message = get_message(tenant_id=key.tenant_id, user_id=key.created_by_id, message_id=message_id)
    assert key.created_by is not None  # noqa: S101 - get_message found it in their conversation
    try:
        feedback, created = services.feedback_set(
            message=message,
            user=key.created_by,
            rating=body.rating,
            reason=body.reason or "",
            comment=body.comment,
            via="api",
        )
    except services.InvalidFeedback as exc:
        raise ApiError(400, exc.message, code=exc.code, param=exc.param) from exc
    except ServiceError as exc:
        raise ApiError(400, exc.message, code=exc.code, param="message_id") from exc
    return Status(201 if created else 200, _feedback_dict(feedback))


@router.delete(
    "/messages/{message_id}/feedback",
    response={204: None},
    summary="Take back the rating of an answer",
)
def feedback_delete(request: KeyRequest, message_id: uuid.UUID) -> HttpResponse:
    """204 once removed; 404 when the message is not the key creator's or has no rating."""
    key = require_scope(request.api_key, Scope.CHAT)
    message = get_message(tenant_id=key.tenant_id, user_id=key.created_by_id, message_id=message_id)
    assert key.created_by is not None  # noqa: S101 - get_message found it in their conversation
    if not services.feedback_delete(message=message, user=key.created_by):
        raise ApiError(
            404,
            "This answer has no rating from this key's member: nothing to take back.",
            code="no_feedback",
            param="message_id",
        )
    return HttpResponse(status=204)


# -- quality signals ------------------------------------------------------------------------


class SignalsOut(Schema):
    answers: int
    stopped: int
    errors: int
    chat_answers: int
    cited: int
    citations_passed: int
    rated: int
    thumbs_up: int
    citation_pass_rate: float | None
    stopped_rate: float | None
    error_rate: float | None
    feedback_rate: float | None
    thumbs_up_share: float | None


class QualityRowOut(SignalsOut):
    day: str
    feature: str
    model: str


class QualityOut(Schema):
    days: int
    since: str
    total: SignalsOut
    rows: list[QualityRowOut]


def _signals_dict(signals: quality.Signals) -> dict[str, Any]:
    counts = {name: getattr(signals, name) for name in quality.Signals.__dataclass_fields__}
    return counts | signals.rates()


def _days(raw: str | None) -> int:
    if raw is None or raw == "":
        return quality.DEFAULT_DAYS
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= quality.MAX_DAYS:
        raise ApiError(
            400,
            f"days must be a whole number from 1 to {quality.MAX_DAYS} (you sent {raw[:20]!r}); "
            f"leave it out for the last {quality.DEFAULT_DAYS} days.",
            code="invalid_days",
            param="days",
        )
    return int(raw)


@router.get(
    "/quality",
    response=QualityOut,
    tags=["quality"],
    summary="AI quality signals per day, model and feature (UTC days, today included)",
)
def quality_signals(request: KeyRequest, days: str | None = None) -> dict[str, Any]:
    """The organisation's answers of the last ``days`` days (1-90, default 30): citation
    check pass rate, stopped and error rates, feedback rate and thumbs-up share, for the
    whole window and per day, feature and model. Rates are fractions of 1, null when
    there is nothing to divide by. 400 ``invalid_days`` for anything else."""
    key = require_scope(request.api_key, Scope.READ)
    report = quality.quality_signals(tenant_id=key.tenant_id, days=_days(days))
    return {
        "days": report.days,
        "since": report.since.isoformat(),
        "total": _signals_dict(report.total),
        "rows": [
            {
                "day": row.day.isoformat(),
                "feature": row.feature,
                "model": row.model,
                **_signals_dict(row.signals),
            }
            for row in report.rows
        ],
    }
