"""Reads for conversations. Call inside tenant_context for the tenant."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.chat.models import Conversation, Message, MessageStatus


def conversations_for(*, tenant_id: Any, user_id: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(tenant_id=tenant_id, user_id=user_id)


def history_for(message: Message) -> list[dict[str, str]]:
    """The conversation before ``message`` as gateway messages, oldest first: finished
    answers only, at most CHAT_HISTORY_MAX_MESSAGES of the newest (the gateway then
    trims them to the model's context window by tokens, newest kept)."""
    newest_first = (
        Message.objects.filter(
            conversation_id=message.conversation_id, created_at__lt=message.created_at
        )
        .exclude(status=MessageStatus.STREAMING)
        .exclude(content="")
        .order_by("-created_at")
        .values_list("role", "content")[: settings.CHAT_HISTORY_MAX_MESSAGES]
    )
    return [{"role": role, "content": content} for role, content in reversed(newest_first)]


# Shown on an empty chat; the tenant's AI settings have no field for them yet.
SUGGESTED_PROMPTS = (
    "Summarise our latest documents in five bullet points",
    "Draft a friendly reply to a customer asking for a refund",
    "Explain a technical idea as if to a new colleague",
    "Turn these notes into a clear plan with next steps",
)


def suggested_prompts(tenant: Any) -> tuple[str, ...]:
    return SUGGESTED_PROMPTS
