"""Step 2: refuse a malformed or oversized request before any provider call."""

from __future__ import annotations

from typing import Any

from apps.gateway import router
from apps.gateway.types import GatewayError

CHAT_ALIASES = ("fast", "smart")
ROLES = {"system", "user", "assistant", "tool"}


def count_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as the tokenizer LiteLLM uses for cost estimates (tiktoken)."""
    return int(router.litellm_module().token_counter(messages=messages))


def count_text_tokens(text: str) -> int:
    return int(router.litellm_module().token_counter(text=text)) if text else 0


def trim_to_window(
    messages: list[dict[str, Any]], alias: str, max_tokens: int
) -> list[dict[str, Any]]:
    """Drop the oldest turns (system prompts kept) until the prompt leaves ``max_tokens``
    of the model's window for the answer. The newest message always stays: if it alone is
    too long, validation refuses it with a message saying so."""
    budget = router.context_window(alias) - max_tokens
    system = [m for m in messages if m.get("role") == "system"]
    turns = [m for m in messages if m.get("role") != "system"]
    while len(turns) > 1 and count_tokens(system + turns) > budget:
        turns.pop(0)
    return system + turns


def validate_chat(messages: list[dict[str, Any]], alias: str, max_tokens: int) -> int:
    """Return the prompt's token count, or raise GatewayError saying what to fix."""
    if alias not in CHAT_ALIASES:
        raise GatewayError(
            "invalid_request",
            f"Unknown model {alias!r}. Use one of: {', '.join(CHAT_ALIASES)}.",
        )
    if not isinstance(messages, list) or not messages:
        raise GatewayError("invalid_request", "Send at least one message.")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise GatewayError(
                "invalid_request", "Each message needs a role: system, user or assistant."
            )
        if not isinstance(message.get("content"), str):
            raise GatewayError("invalid_request", "Each message needs text content.")
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise GatewayError("invalid_request", "The message is empty. Type a question first.")
    if max_tokens < 1:
        raise GatewayError("invalid_request", "max_tokens must be at least 1.")
    tokens = count_tokens(messages)
    window = router.context_window(alias)
    if tokens > window:
        raise GatewayError(
            "context_too_long",
            f"The conversation is {tokens:,} tokens long; the model reads at most {window:,}. "
            "Shorten the message or start a new conversation.",
        )
    return tokens
