"""Step 2: refuse a malformed or oversized request before any provider call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from apps.gateway import router
from apps.gateway.types import GatewayError

CHAT_ALIASES = ("fast", "smart")
ROLES = {"system", "user", "assistant", "tool"}


# LiteLLM's ``token_counter`` without a model (how the gateway calls it) counts with
# tiktoken's cl100k_base. Its arithmetic for plain messages, done here without its
# per-call machinery (message conversion, tokenizer selection, 6 times the time of the
# encoding itself): 3 tokens per message, each string field's tokens (the role too), 1
# more for a name, 3 for the reply's priming; text encoded in chunks (LiteLLM's
# TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS, against tiktoken's quadratic worst case). Any other
# shape (multi-part content, tool calls, None values, text past LiteLLM's
# TOKEN_COUNTER_MAX_EXACT_CHARS, which it extrapolates from samples) goes to
# ``token_counter`` itself. tests/gateway/test_token_count.py holds the two equal.
_PER_MESSAGE, _PER_NAME, _REPLY_PRIMING = 3, 1, 3
_PLAIN_KEYS = frozenset({"role", "content", "name"})


@functools.cache
def _encoding() -> tuple[Callable[[str], int], int, int]:
    """The length of a text in LiteLLM's default encoding (its bundled cl100k_base
    file: tiktoken alone would download it), counted as LiteLLM counts it; LiteLLM's
    chunk size and its longest exactly counted text."""
    router.litellm_module()
    from litellm._lazy_imports import get_default_encoding
    from litellm.constants import TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS, TOKEN_COUNTER_MAX_EXACT_CHARS
    from litellm.litellm_core_utils.tokenizer import OpenAIEncoding

    encoding: Any = get_default_encoding()
    if isinstance(encoding, OpenAIEncoding):  # LiteLLM's native tokenizer, when enabled
        length = cast(Callable[[str], int], encoding.count)
    else:
        encode = encoding.encode_ordinary  # = encode(text, disallowed_special=())
        length = lambda text: len(encode(text))  # noqa: E731
    return length, int(TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS), int(TOKEN_COUNTER_MAX_EXACT_CHARS)


@functools.lru_cache(maxsize=64)
def _role_count(role: str) -> int:
    return _encoding()[0](role)


def _text_count(text: str) -> int | None:
    length, chunk, max_exact = _encoding()
    if len(text) > max_exact:
        return None
    if len(text) <= chunk:
        return length(text)
    return sum(length(text[i : i + chunk]) for i in range(0, len(text), chunk))


def _plain_count(messages: list[dict[str, Any]]) -> int | None:
    """``token_counter(messages=messages)`` for plain messages, else None."""
    total = _REPLY_PRIMING
    for message in messages:
        if type(message) is not dict or not _PLAIN_KEYS.issuperset(message):
            return None
        total += _PER_MESSAGE
        for key, value in message.items():
            if type(value) is not str:
                return None
            if key == "role" and len(value) <= 16:
                total += _role_count(value)  # a handful of distinct values: cached
                continue
            counted = _text_count(value)
            if counted is None:
                return None
            total += counted + (_PER_NAME if key == "name" else 0)
    return total


def count_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as the tokenizer LiteLLM uses for cost estimates (tiktoken)."""
    counted = _plain_count(messages)
    if counted is not None:
        return counted
    return int(router.litellm_module().token_counter(messages=messages))


def count_text_tokens(text: str) -> int:
    if not text:
        return 0
    counted = _text_count(text)
    if counted is not None:
        return counted
    return int(router.litellm_module().token_counter(text=text))


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
