"""Conversations over the API (django-ninja Router, mounted by config/api.py).

Read-only: a key sees the conversations of the member who created it, in its
organisation (scope ``read``). Chatting itself is ``POST /api/v1/chat/completions``.
"""

from __future__ import annotations

import uuid
from typing import Any

from ninja import Router, Schema

from apps.api.auth import KeyRequest, require_scope
from apps.api.models import Scope
from apps.chat import selectors
from apps.chat.access import get_conversation
from apps.chat.models import Conversation

router = Router(tags=["conversations"])


class MessageOut(Schema):
    id: str
    role: str
    content: str
    status: str
    created_at: str
    # Answers from documents: "sources" (passages retrieved), "citations" (each [n]
    # checked: valid, supported), or a "notice"; {} otherwise. See docs/chat.md.
    rag: dict[str, Any]


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
            }
            for m in found.messages.all()
        ],
    }
