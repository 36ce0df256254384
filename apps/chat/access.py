"""The one way to load a person's conversation or message by id, for pages and the API.

Conversations are private to the member who started them, so the lookup takes the
tenant and the user (a page's member, or the member who created an API key). Another
tenant's or another member's id is the same 404 as an id that never existed; RLS hides
other tenants' rows as well.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404

from apps.chat import selectors
from apps.chat.models import Conversation, Message


def get_conversation(*, tenant_id: UUID, user_id: int | None, conversation_id: Any) -> Conversation:
    mine = selectors.conversations_for(tenant_id=tenant_id, user_id=user_id or 0)
    try:
        return mine.get(id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def get_posting(*, tenant_id: UUID, user_id: int | None, conversation_id: Any) -> selectors.Posting:
    """``get_conversation`` with what a new question needs (``selectors.posting_to``)."""
    posting = selectors.posting_to(
        tenant_id=tenant_id, user_id=user_id or 0, conversation_id=conversation_id
    )
    if posting is None:
        raise Http404("No such conversation.")
    return posting


def get_message(*, tenant_id: UUID, user_id: int | None, message_id: Any) -> Message:
    found = (
        Message.objects.select_related("conversation")
        .filter(id=message_id, tenant_id=tenant_id, conversation__user_id=user_id or 0)
        .first()
    )
    if found is None:
        raise Http404("No such message.")
    return found
