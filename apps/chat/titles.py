"""Conversation titles generated from the first exchange (docs/chat.md, "Titles").

A new conversation is titled with the first words of its first question
(``services.message_post``). Once its first answer is complete, the generation asks the
gateway for a short title on the cheap alias (ledger feature ``chat_title``), after the
answer's stream has ended, so the reader never waits for it. The title replaces the
first-words one only: a conversation its owner renamed meanwhile keeps their title. A
refused or failed call leaves the first-words title; nothing else fails.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from apps.chat.models import Conversation, TitleSource
from apps.core.db import in_worker_thread, tenant_context
from apps.gateway import api as gateway
from apps.gateway.types import CallContext, GatewayError

logger = logging.getLogger(__name__)

FEATURE = "chat_title"
ALIAS = "fast"  # the cheap alias: every plan has it
MAX_TOKENS = 16
MAX_CHARS = 60
# Quotes (straight and curly), markdown emphasis and headings around a reply.
WRAPPERS = "\"'\u201c\u201d\u2018\u2019*#` "
EXCERPT_CHARS = 1000  # of the question and of the answer: enough to name them
INSTRUCTION = (
    "You name conversations. Reply with a title of at most six words for the conversation "
    "below, in the language of the question: no quotes, no final punctuation, nothing else."
)


def title_from(text: str) -> str:
    """A model's reply as a title: its first line, without wrapping quotes, markdown or
    a final full stop, whitespace collapsed, at most MAX_CHARS (cut at a word)."""
    line = next((part for part in text.splitlines() if part.strip()), "")
    line = re.sub(r"^\W*title\s*:", "", " ".join(line.split()), flags=re.IGNORECASE)
    line = line.strip(WRAPPERS).rstrip(".:;, ").strip(WRAPPERS)
    if len(line) > MAX_CHARS:
        line = line[:MAX_CHARS].rsplit(" ", 1)[0].rstrip(".,:;-— ") + "…"
    return line


def _save(tenant_id: Any, conversation_id: Any, title: str) -> bool:
    """Replace a first-words title; a renamed (or already titled) conversation keeps its
    own. The condition is in the UPDATE, so a rename racing this one wins."""
    with tenant_context(tenant_id):
        updated = Conversation.objects.filter(
            id=conversation_id, tenant_id=tenant_id, title_source=TitleSource.WORDS
        ).update(title=title, title_source=TitleSource.GENERATED)
    return updated == 1


async def generate(
    *, tenant_id: Any, user_id: Any, conversation_id: Any, question: str, answer: str
) -> str | None:
    """Ask the gateway for a title and save it; the new title, or None when the call
    failed or the owner renamed the conversation first. Never raises for a gateway
    refusal or a provider failure: the first-words title simply stays."""
    ctx = CallContext(
        tenant_id=tenant_id, feature=FEATURE, user_id=user_id, request_id=str(conversation_id)
    )
    exchange = (
        f"Question: {question[:EXCERPT_CHARS]}\n\nAnswer: {answer[:EXCERPT_CHARS]}"
        if answer
        else question[:EXCERPT_CHARS]
    )
    messages = [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": exchange},
    ]
    try:
        # The question was checked when it was posted, the answer as it streamed.
        result = await gateway.complete(
            ctx,
            messages,
            alias=ALIAS,
            max_tokens=MAX_TOKENS,
            temperature=0.2,
            cascade=False,
            checked_input=True,
        )
    except GatewayError as exc:
        logger.info(
            "conversation title not generated",
            extra={"conversation_id": str(conversation_id), "code": exc.code},
        )
        return None
    title = title_from(result.content)
    if not title:
        return None
    saved = await in_worker_thread(_save)(tenant_id, conversation_id, title)
    return title if saved else None
