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
) -> tuple[list[dict[str, Any]], int]:
    """Drop the oldest turns (system prompts kept) until the prompt leaves ``max_tokens``
    of the model's window for the answer; return the messages kept and their token count.
    The newest message always stays: if it alone is too long, validation refuses it with
    a message saying so. Each message is tokenized about twice, however long the history."""
    budget = router.context_window(alias) - max_tokens
    total = count_tokens(messages)
    if total <= budget:
        return messages, total
    system = [m for m in messages if m.get("role") == "system"]
    turns = [m for m in messages if m.get("role") != "system"]
    # A message alone counts at least what it adds to the whole (it also pays the reply's
    # priming), so this drops no more than needed; the exact count then finishes the job.
    sizes = [count_tokens([m]) for m in turns]
    while len(turns) > 1 and total > budget:
        total -= sizes.pop(0)
        turns.pop(0)
    total = count_tokens(system + turns)
    while len(turns) > 1 and total > budget:
        turns.pop(0)
        total = count_tokens(system + turns)
    return system + turns, total


def validate_chat(
    messages: list[dict[str, Any]], alias: str, max_tokens: int, *, tokens: int | None = None
) -> int:
    """Return the prompt's token count (``tokens`` when the caller counted already), or
    raise GatewayError saying what to fix."""
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
    if tokens is None:
        tokens = count_tokens(messages)
    window = router.context_window(alias)
    if tokens > window:
        raise GatewayError(
            "context_too_long",
            f"The conversation is {tokens:,} tokens long; the model reads at most {window:,}. "
            "Shorten the message or start a new conversation.",
        )
    return tokens
