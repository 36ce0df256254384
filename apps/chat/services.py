"""Writes for conversations and messages. Call inside tenant_context for the tenant."""

from __future__ import annotations

import functools
from typing import Any, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import Field
from django.utils import timezone

from apps.accounts.models import User
from apps.chat.attachments import attachments_delete_all
from apps.chat.models import (
    Conversation,
    Feedback,
    FeedbackReason,
    Message,
    MessageRole,
    MessageStatus,
    Rating,
    TitleSource,
)
from apps.chat.selectors import Posting
from apps.core.errors import ServiceError
from apps.tenants.models import Tenant
from apps.tenants.plans import model_refusal

TITLE_CHARS = 60
FEEDBACK_COMMENT_CHARS = 1000


def conversation_create(*, tenant: Tenant, user: User) -> Conversation:
    return Conversation.objects.create(tenant=tenant, user=user)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = title.strip()
    if not title:
        raise ServiceError("Give the conversation a title.")
    conversation.title = title[:200]
    conversation.title_source = TitleSource.USER  # a generated title never replaces it
    conversation.save(update_fields=["title", "title_source", "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """The conversation, its messages and its attached files (their stored files too)."""
    attachments_delete_all(conversation=conversation)
    conversation.delete()


def _clean(content: str) -> str:
    content = content.strip()
    if not content:
        raise ServiceError("The message is empty. Type a question first.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(content) > limit:
        raise ServiceError(
            f"The message is {len(content):,} characters long; the limit is {limit:,}. "
            "Shorten it or split it in parts."
        )
    return content


def _choose_model(conversation: Conversation, plan: str, model: str) -> None:
    """Remember the model picked in the composer ("" keeps the conversation's choice),
    after checking that the organisation's plan has it. The conversation is saved by the
    caller. A choice the plan no longer has (a downgrade since) is refused the same way."""
    model = model.strip()
    if model:
        conversation.model_alias = model
    if conversation.model_alias:
        refusal = model_refusal(plan, conversation.model_alias)
        if refusal:
            raise ServiceError(refusal, code="model_not_allowed")


def _require_idle(conversation: Conversation) -> str | None:
    """Refuse while an answer streams; return the newest message's role (None when the
    conversation is empty). Every write goes through here, so a streaming answer is
    always the newest message: one indexed row answers both questions."""
    newest = conversation.messages.order_by("-created_at").values_list("role", "status")[:1]
    return _idle_role(next(iter(newest), None))


def _idle_role(newest: tuple[str, str] | None) -> str | None:
    """``_require_idle`` for the newest message's role and status, read already."""
    if newest is None:
        return None
    role, status = newest
    if status == MessageStatus.STREAMING:
        raise ServiceError("Wait for the current answer to finish, or stop it, before sending.")
    return str(role)


def _new_answer(conversation: Conversation) -> Message:
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["model_alias", "updated_at"])
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.STREAMING,
    )


@transaction.atomic
def message_regenerate(*, conversation: Conversation, plan: str, model: str = "") -> Message:
    """Replace the last answer with a new one to stream (with ``model`` when given)."""
    _choose_model(conversation, plan, model)
    _require_idle(conversation)
    last = conversation.messages.order_by("-created_at").first()
    if last is None or last.role != MessageRole.ASSISTANT:
        raise ServiceError("There is no answer to regenerate yet.")
    last.delete()
    return _new_answer(conversation)


@transaction.atomic
def message_edit_last(
    *, conversation: Conversation, content: str, plan: str, model: str = ""
) -> tuple[Message, Message]:
    """Change the last question and answer it again (its old answer goes)."""
    content = _clean(content)
    _choose_model(conversation, plan, model)
    _require_idle(conversation)
    question = conversation.messages.filter(role=MessageRole.USER).order_by("-created_at").first()
    if question is None:
        raise ServiceError("There is no question to edit yet.")
    conversation.messages.filter(created_at__gt=question.created_at).delete()
    question.content = content
    question.save(update_fields=["content", "updated_at"])
    return question, _new_answer(conversation)


def message_post(
    *, conversation: Conversation, content: str, plan: str, model: str = ""
) -> tuple[Message, Message]:
    """Store the user's message and an empty assistant message to stream into.

    ``plan`` is the organisation's plan, ``model`` the alias picked in the composer ("":
    the conversation's choice, else the organisation's default); a model the plan does
    not have is refused with the plans that have it, and nothing is stored."""
    content = _clean(content)
    _choose_model(conversation, plan, model)
    first = _require_idle(conversation) is None
    return _store_post(conversation, content, first=first)


def message_post_to(
    *, posting: Posting, content: str, plan: str, model: str = ""
) -> tuple[Message, Message, list[dict[str, str]]]:
    """``message_post`` for a conversation read with its newest message and history
    (``selectors.posting_to``): no query before the INSERT. Also returns the answer's
    history, the question last (what ``selectors.history_for`` would read for it)."""
    content = _clean(content)
    _choose_model(posting.conversation, plan, model)
    first = _idle_role(posting.newest) is None
    question, answer = _store_post(posting.conversation, content, first=first)
    asked = {"role": MessageRole.USER.value, "content": content}
    return question, answer, [*posting.earlier, asked]


# Joins the caller's transaction (the member's request) without a savepoint: every
# refusal is raised before it (an exception inside would doom the caller's transaction),
# and a failed write fails the whole request anyway.
@transaction.atomic(savepoint=False)
def _store_post(
    conversation: Conversation, content: str, *, first: bool
) -> tuple[Message, Message]:
    user_message = Message(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        role=MessageRole.USER,
        content=content,
    )
    answer = Message(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.STREAMING,
    )
    if first and conversation.title_source != TitleSource.USER:
        # Replaced by a generated title once the first answer is complete (titles.py).
        conversation.title = content[:TITLE_CHARS] + ("…" if len(content) > TITLE_CHARS else "")
        conversation.title_source = TitleSource.WORDS
    # Both messages and the conversation's update in one statement: one round trip
    # instead of two, with a text built once (``_post_statement``), not by the ORM for
    # every post. Ids are made here, and each created_at is taken in order.
    connection = connections[DEFAULT_DB_ALIAS]
    params = [
        field.get_db_prep_save(field.pre_save(message, True), connection)
        for message in (user_message, answer)
        for field in Message._meta.concrete_fields
    ]
    params += [
        field.get_db_prep_save(field.pre_save(conversation, False), connection)
        for field in _CONVERSATION_UPDATE
    ]
    params.append(conversation.pk)
    with connection.cursor() as cursor:
        cursor.execute(_post_statement(), params)
        if cursor.rowcount != 1:  # as ``save(update_fields=...)`` says it
            raise DatabaseError("Save with update_fields did not affect any rows.")
    for message in (user_message, answer):
        message._state.adding = False
        message._state.db = DEFAULT_DB_ALIAS
    return user_message, answer


_CONVERSATION_UPDATE = tuple(
    cast("Field[Any, Any]", Conversation._meta.get_field(name))
    for name in ("title", "title_source", "model_alias", "updated_at")
)


@functools.cache
def _post_statement() -> str:
    """The INSERT of a question and its answer shell (every column, as ``bulk_create``
    writes them) and the UPDATE of their conversation (``_CONVERSATION_UPDATE``, as
    ``save(update_fields=...)`` writes it) in one statement."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = [quote(field.column) for field in Message._meta.concrete_fields]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sets = ", ".join(f"{quote(field.column)} = %s" for field in _CONVERSATION_UPDATE)
    # Names from the models' meta; every value is a parameter.
    return (
        f"WITH stored AS (INSERT INTO {quote(Message._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES {row}, {row}) "
        f"UPDATE {quote(Conversation._meta.db_table)} SET {sets} "
        f"WHERE {quote(Conversation._meta.pk.column)} = %s"
    )


def message_finish(*, message_id: Any, tenant_id: Any, **fields: Any) -> None:
    """Save a generation's outcome (content, status, model, usage record, error)."""
    Message.objects.filter(id=message_id, tenant_id=tenant_id).update(
        updated_at=timezone.now(), **fields
    )


# -- feedback on answers -------------------------------------------------------------------


class InvalidFeedback(ServiceError):
    """A rating, reason or comment that cannot be saved; ``param`` names the field."""

    def __init__(self, message: str, *, code: str, param: str) -> None:
        super().__init__(message, code=code)
        self.param = param


def _feedback_fields(rating: str, reason: str, comment: str) -> tuple[str, str, str]:
    rating, reason, comment = rating.strip().lower(), reason.strip().lower(), comment.strip()
    if rating not in Rating.values:
        raise InvalidFeedback(
            'Rate the answer "up" or "down".', code="invalid_rating", param="rating"
        )
    if reason and reason not in FeedbackReason.values:
        raise InvalidFeedback(
            f"Pick a reason among {', '.join(FeedbackReason.values)}, or leave it empty.",
            code="invalid_reason",
            param="reason",
        )
    if reason and rating == Rating.UP:
        raise InvalidFeedback(
            "A reason goes with a thumbs down; for a thumbs up, say what helped in the comment.",
            code="invalid_reason",
            param="reason",
        )
    if len(comment) > FEEDBACK_COMMENT_CHARS:
        raise InvalidFeedback(
            f"The comment is {len(comment):,} characters long; the limit is "
            f"{FEEDBACK_COMMENT_CHARS:,}. Shorten it.",
            code="comment_too_long",
            param="comment",
        )
    return rating, reason, comment


def feedback_set(
    *, message: Message, user: User, rating: str, reason: str = "", comment: str = "", via: str
) -> tuple[Feedback, bool]:
    """Rate an answer (``up`` / ``down``, a reason for a thumbs down, a comment), or change
    the rating ``user`` gave it; (the feedback, whether it is new). Only a finished answer
    can be rated; the caller loaded ``message`` through the access helper (the person's
    own conversation)."""
    rating, reason, comment = _feedback_fields(rating, reason, comment)
    if message.role != MessageRole.ASSISTANT:
        raise ServiceError(
            "Only answers can be rated; this message is a question.", code="not_an_answer"
        )
    if message.status == MessageStatus.STREAMING:
        raise ServiceError(
            "This answer is still being written: rate it once it is finished.",
            code="answer_in_progress",
        )
    # One row per person and answer (a unique constraint): a second rating, even a
    # concurrent one, changes the first.
    feedback, created = Feedback.objects.update_or_create(
        tenant_id=message.tenant_id,
        message=message,
        user=user,
        defaults={"rating": rating, "reason": reason, "comment": comment, "via": via},
    )
    return feedback, created


def feedback_delete(*, message: Message, user: User) -> bool:
    """Take back ``user``'s rating of the answer; False when there was none."""
    deleted, _ = Feedback.objects.filter(
        tenant_id=message.tenant_id, message=message, user=user
    ).delete()
    return deleted > 0
