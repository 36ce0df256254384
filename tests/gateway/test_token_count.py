"""The gateway's own token count equals LiteLLM's ``token_counter`` (what limits, budgets
and the context window were measured with), on every message shape a caller may send."""

from __future__ import annotations

from typing import Any

import pytest

from apps.gateway import validation
from apps.gateway.router import litellm_module

LONG = "Row-level security keeps each tenant's rows apart. " * 60  # > one 1024-char chunk
REPEATED = "." * 5000  # one long regex piece, split at chunk boundaries
TEXTS = [
    "",
    " ",
    "What does row-level security protect?",
    "Ünïcödé, emoji 🙂🚀, 中文字符, العربية, and tabs\tand\nnewlines\r\n",
    "<|endoftext|> <|fim_prefix|> special tokens as plain text",
    "  leading and trailing spaces  ",
    "x" * 1023,
    "y" * 1024,
    "z" * 1025,
    LONG,
    REPEATED,
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n" * 40,
]

PLAIN: list[list[dict[str, Any]]] = [[{"role": "user", "content": text}] for text in TEXTS] + [
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi", "name": "alice"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": LONG, "name": "bob_the_builder"},
    ],
    [{"role": "tool", "content": '{"temperature": 21}'}],
    [{"role": "a-made-up-role-longer-than-sixteen", "content": "text"}],
    [{"content": "no role at all"}],
    [],
]

OTHER: list[list[dict[str, Any]]] = [
    [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this picture."},
                {"type": "text", "text": LONG},
            ],
        }
    ],
    [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"c": 21}', "tool_call_id": "call_1"},
    ],
    [{"role": "user", "content": "text", "extra_field": "a field LiteLLM counts too"}],
]


def litellm_count(messages: list[dict[str, Any]]) -> int:
    return int(litellm_module().token_counter(messages=messages))


@pytest.mark.parametrize("messages", PLAIN)
def test_plain_messages_are_counted_directly_and_as_litellm_does(
    messages: list[dict[str, Any]],
) -> None:
    assert validation._plain_count(messages) is not None  # the direct path served it
    assert validation.count_tokens(messages) == litellm_count(messages)


@pytest.mark.parametrize("messages", OTHER)
def test_other_shapes_go_to_litellm(messages: list[dict[str, Any]]) -> None:
    assert validation._plain_count(messages) is None
    assert validation.count_tokens(messages) == litellm_count(messages)


@pytest.mark.parametrize("text", TEXTS)
def test_text_counts_equal_litellm(text: str) -> None:
    expected = int(litellm_module().token_counter(text=text)) if text else 0
    assert validation.count_text_tokens(text) == expected
