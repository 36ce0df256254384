"""Writes for conversations and messages. Call inside tenant_context for the tenant."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.chat.attachments import attachments_delete_all
from apps.chat.models import Conversation, Message, MessageRole, MessageStatus
from apps.core.errors import ServiceError
from apps.tenants.models import Tenant

TITLE_CHARS = 60


def conversation_create(*, tenant: Tenant, user: User) -> Conversation:
    return Conversation.objects.create(tenant=tenant, user=user)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = title.strip()
    if not title:
        raise ServiceError("Give the conversation a title.")
    conversation.title = title[:200]
    conversation.save(update_fields=["title", "updated_at"])
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


def _require_idle(conversation: Conversation) -> str | None:
    """Refuse while an answer streams; return the newest message's role (None when the
    conversation is empty). Every write goes through here, so a streaming answer is
    always the newest message: one indexed row answers both questions."""
    newest = conversation.messages.order_by("-created_at").values_list("role", "status")[:1]
    for role, status in newest:
        if status == MessageStatus.STREAMING:
            raise ServiceError("Wait for the current answer to finish, or stop it, before sending.")
        return str(role)
    return None


def _new_answer(conversation: Conversation) -> Message:
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["updated_at"])
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.STREAMING,
    )


@transaction.atomic
def message_regenerate(*, conversation: Conversation) -> Message:
    """Replace the last answer with a new one to stream."""
    _require_idle(conversation)
    last = conversation.messages.order_by("-created_at").first()
    if last is None or last.role != MessageRole.ASSISTANT:
        raise ServiceError("There is no answer to regenerate yet.")
    last.delete()
    return _new_answer(conversation)


@transaction.atomic
def message_edit_last(*, conversation: Conversation, content: str) -> tuple[Message, Message]:
    """Change the last question and answer it again (its old answer goes)."""
    content = _clean(content)
    _require_idle(conversation)
    question = conversation.messages.filter(role=MessageRole.USER).order_by("-created_at").first()
    if question is None:
        raise ServiceError("There is no question to edit yet.")
    conversation.messages.filter(created_at__gt=question.created_at).delete()
    question.content = content
    question.save(update_fields=["content", "updated_at"])
    return question, _new_answer(conversation)


# Joins the caller's transaction (the member's request) without a savepoint: a refusal
# comes before any write, and a failed write fails the whole request anyway.
@transaction.atomic(savepoint=False)
def message_post(*, conversation: Conversation, content: str) -> tuple[Message, Message]:
    """Store the user's message and an empty assistant message to stream into."""
    content = _clean(content)
    first = _require_idle(conversation) is None
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
    # One INSERT for both; ids are made here, and each created_at is taken in order.
    Message.objects.bulk_create([user_message, answer])
    if first:
        conversation.title = content[:TITLE_CHARS] + ("…" if len(content) > TITLE_CHARS else "")
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["title", "updated_at"])
    return user_message, answer


def message_finish(*, message_id: Any, tenant_id: Any, **fields: Any) -> None:
    """Save a generation's outcome (content, status, model, usage record, error)."""
    Message.objects.filter(id=message_id, tenant_id=tenant_id).update(
        updated_at=timezone.now(), **fields
    )
