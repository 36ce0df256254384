"""Reads for conversations. Call inside tenant_context for the tenant."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.chat.models import Conversation, Message, MessageStatus


def conversations_for(*, tenant_id: Any, user_id: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(tenant_id=tenant_id, user_id=user_id)


def history_for(message: Message) -> list[dict[str, str]]:
    """The conversation up to ``message`` as gateway messages (finished answers only)."""
    earlier = (
        Message.objects.filter(
            conversation_id=message.conversation_id, created_at__lt=message.created_at
        )
        .exclude(status=MessageStatus.STREAMING)
        .order_by("created_at")
    )
    return [{"role": m.role, "content": m.content} for m in earlier if m.content]
