"""``{% attachments_panel conversation %}``: the composer's attachments (chips, attach
button, drop zone) with their state, so the chat screen includes it in one line."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from apps.chat import attachments
from apps.chat.models import Conversation
from apps.rag.forms import ACCEPT
from apps.rag.parsing import ACCEPTED
from apps.rag.services import max_upload_bytes

register = template.Library()


@register.inclusion_tag("chat/attachments.html", takes_context=True)
def attachments_panel(context: template.Context, conversation: Conversation) -> dict[str, Any]:
    slug = context["current_tenant"].slug
    return {
        "state": {
            "url": reverse("chat:attachments", args=[slug, conversation.id]),
            "items": [
                attachments.as_json(slug, conversation, d)
                for d in attachments.attachments_of(conversation)
            ],
            "accept": ACCEPT.split(","),
            "accepted": ACCEPTED,
            "max_bytes": max_upload_bytes(),
            "max_files": attachments.MAX_PER_CONVERSATION,
        },
        "accept": ACCEPT,
        "accepted": ACCEPTED,
        "max_mb": max_upload_bytes() // (1024 * 1024),
    }
