"""The local provider, tested as the gateway uses it: a real server process, real HTTP.

The server starts once for the module (unpaced, no TTFT, 2 s timeout fault) and these
tests only talk to it over the wire, plus a few pure checks of ``devmodel``. No database.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from apps.gateway.local_provider import devmodel
from tests.servers import free_port, running, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"
QUESTION = "How do I reset my password?"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": QUESTION},
]
# (2 words + 4) + (6 words + 4), as the contract defines prompt_tokens.
MESSAGES_PROMPT_TOKENS = 16
CONTEXT = (
    "Answer from these passages.\n"
    "[1] Refunds are accepted within 30 days. After that, store credit only.\n"
    "[2] Shipping is free on orders over $50! Smaller orders pay $5.\n"
    "[3] Support answers within one business day.\n"
    "[4] This fourth passage must not be cited."
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local provider process on a free port; yields its base URL once /health is 200."""
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("local_provider") / "server.log"
    env = {
        **os.environ,
        "LOCAL_PROVIDER_TTFT_MS": "0",
        "LOCAL_PROVIDER_TOKENS_PER_S": "0",
        "LOCAL_PROVIDER_TIMEOUT_S": "2",
    }
    port = url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "apps.gateway.local_provider", "--port", port]
    with running(command, env=env, log=log) as proc:
        wait_until_healthy(proc, f"{url}/health", log, timeout=90)
        yield url


def chat(base: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    payload = {"model": "local-fast", "messages": MESSAGES, **body}
    return httpx.post(f"{base}{CHAT}", json=payload, headers=headers, timeout=10)


def stream_events(
    base: str, headers: dict[str, str] | None = None, **body: Any
) -> tuple[list[dict[str, Any]], bool]:
    """POST a streaming chat; returns (decoded chunks, whether ``[DONE]`` arrived).

    A connection dropped mid-body (cut fault) ends the list instead of raising.
    """
    payload = {"model": "local-fast", "messages": MESSAGES, "stream": True, **body}
    events: list[dict[str, Any]] = []
    done = False
    try:
        with httpx.stream("POST", f"{base}{CHAT}", json=payload, headers=headers) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if not line:
                    continue
                assert line.startswith("data: ")
                assert not done, "nothing may follow [DONE]"
                if line == "data: [DONE]":
                    done = True
                else:
                    events.append(json.loads(line.removeprefix("data: ")))
    except httpx.RemoteProtocolError:
        pass
    return events, done


def content_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["choices"][0]["delta"]["content"]
        for e in events
        if e["choices"] and "content" in e["choices"][0]["delta"]
    ][1:]  # the first is the role chunk's empty content


# -- models and request errors -------------------------------------------------------------


def test_models_lists_the_four_models(base: str) -> None:
    body = httpx.get(f"{base}/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [
        "local-fast",
        "local-smart",
        "local-unsure",
        "local-embed",
    ]
    assert all(m["object"] == "model" and m["owned_by"] == "dev" for m in body["data"])


@pytest.mark.parametrize("model", ["gpt-4o", "local-embed", "local-fault-418"])
def test_unknown_chat_model_is_404_model_not_found(base: str, model: str) -> None:
    resp = chat(base, model=model)
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "model"
    assert f"'{model}'" in error["message"]
    assert "local-fast" in error["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"model": "local-fast"}',
        b'{"model": "local-fast", "messages": "hi"}',
        b'{"model": "local-fast", "messages": []}',
        b'{"model": "local-fast", "messages": [{"content": "no role"}]}',
        b'{"model": "local-fast", "messages": [{"role": "user"}]}',
        b'{"model": "local-fast", "messages": [{"role": "user", "content": 5}]}',
        b'{"model": "local-fast", "messages": [{"role": "user", "content": "x"}], "n": 2}',
    ],
)
def test_malformed_chat_body_is_400(base: str, content: bytes) -> None:
    resp = httpx.post(f"{base}{CHAT}", content=content)
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


# -- non-streaming answers -----------------------------------------------------------------


def test_answer_is_labelled_deterministic_and_usage_adds_up(base: str) -> None:
    first, second = chat(base).json(), chat(base).json()
    assert first["object"] == "chat.completion"
    assert first["id"].startswith("chatcmpl-dev-")
    assert first["model"] == "local-fast"
    choice = first["choices"][0]
    content = choice["message"]["content"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert content.startswith("[dev model] ")
    assert f'You asked: "{QUESTION}".' in content
    assert content == second["choices"][0]["message"]["content"]

    usage = first["usage"]
    assert usage["prompt_tokens"] == MESSAGES_PROMPT_TOKENS
    # Tokens are words with their trailing whitespace: one per word.
    assert usage["completion_tokens"] == len(content.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_smart_answers_are_longer_and_long_questions_are_trimmed(base: str) -> None:
    question = "word " * 100  # 500 chars
    messages = [{"role": "user", "content": question}]
    fast = chat(base, messages=messages).json()["choices"][0]["message"]["content"]
    smart = chat(base, model="local-smart", messages=messages).json()
    smart_content = smart["choices"][0]["message"]["content"]
    assert smart_content.startswith(fast)
    assert len(smart_content) > len(fast)
    assert f'You asked: "{question.strip()[:200].rstrip()}".' in fast


def test_max_tokens_stops_with_length_and_counts_only_emitted_tokens(base: str) -> None:
    full = chat(base).json()["choices"][0]["message"]["content"]
    for body in (chat(base, max_tokens=5).json(), chat(base, max_completion_tokens=5).json()):
        content = body["choices"][0]["message"]["content"]
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 5
        assert body["usage"]["total_tokens"] == MESSAGES_PROMPT_TOKENS + 5
        assert full.startswith(content)
        assert len(content.split()) == 5


def test_a_title_request_gets_the_questions_first_words_without_the_label(base: str) -> None:
    system = {"role": "system", "content": "Reply with a short title for the conversation."}
    exchange = {
        "role": "user",
        "content": "Question: How do refunds work for annual plans?\n\nAnswer: …",
    }
    titled = chat(base, messages=[system, exchange], max_tokens=16).json()
    assert titled["choices"][0]["message"]["content"] == "How do refunds work for annual"
    assert titled["choices"][0]["finish_reason"] == "stop"
    # A long reply allowed, or no system message about a title: an ordinary answer.
    for messages, limit in (([system, exchange], 200), ([exchange], 16)):
        content = chat(base, messages=messages, max_tokens=limit).json()["choices"][0]
        assert content["message"]["content"].startswith("[dev model] ")


def test_context_passages_are_cited_by_number(base: str) -> None:
    messages = [
        {"role": "system", "content": CONTEXT},
        {"role": "user", "content": "Can I get a refund and is shipping free?"},
    ]
    content = chat(base, messages=messages).json()["choices"][0]["message"]["content"]
    assert content == (
        "[dev model] According to [1], Refunds are accepted within 30 days. "
        "According to [2], Shipping is free on orders over $50! "
        "According to [3], Support answers within one business day."
    )
    assert "[4]" not in content


# -- streaming -----------------------------------------------------------------------------


def test_stream_reproduces_the_answer_and_reports_usage(base: str) -> None:
    expected = chat(base).json()
    events, done = stream_events(base, stream_options={"include_usage": True})
    assert done
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert len({e["id"] for e in events}) == 1
    assert all(e["model"] == "local-fast" and "created" in e for e in events)

    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = content_deltas(events)
    assert "".join(deltas) == expected["choices"][0]["message"]["content"]

    finish, usage_chunk = events[-2], events[-1]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == expected["usage"]
    assert usage_chunk["usage"]["completion_tokens"] == len(deltas)


def test_stream_without_include_usage_sends_no_usage(base: str) -> None:
    events, done = stream_events(base, max_tokens=4)
    assert done
    assert len(content_deltas(events)) == 4
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    assert all(e["choices"] for e in events)
    assert not any(e.get("usage") for e in events)


def test_answer_tokens_header_sets_the_exact_length(base: str) -> None:
    headers = {"X-Dev-Answer-Tokens": "300"}
    events, done = stream_events(base, headers, stream_options={"include_usage": True})
    assert done
    assert len(content_deltas(events)) == 300
    assert events[-1]["usage"]["completion_tokens"] == 300
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert chat(base, headers={"X-Dev-Answer-Tokens": "nope"}).status_code == 400


# -- logprobs ------------------------------------------------------------------------------


def _mean_logprob(base: str, model: str) -> float:
    body = chat(base, model=model, logprobs=True).json()
    content = body["choices"][0]["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    assert "".join(item["token"] for item in content) == body["choices"][0]["message"]["content"]
    for item in content:
        assert item["bytes"] == list(item["token"].encode())
        assert item["top_logprobs"] == []
    mean: float = sum(item["logprob"] for item in content) / len(content)
    return mean


def test_logprobs_separate_unsure_from_confident_models(base: str) -> None:
    assert _mean_logprob(base, "local-unsure") < -1.5
    fast = _mean_logprob(base, "local-fast")
    assert fast > -0.5
    assert fast == _mean_logprob(base, "local-fast")  # deterministic
    assert chat(base).json()["choices"][0]["logprobs"] is None


def test_streamed_logprobs_match_each_token(base: str) -> None:
    events, done = stream_events(base, model="local-unsure", logprobs=True)
    assert done
    content_events = [e for e in events[1:] if e["choices"][0]["delta"].get("content")]
    assert content_events
    for event in content_events:
        choice = event["choices"][0]
        [item] = choice["logprobs"]["content"]
        assert item["token"] == choice["delta"]["content"]
        assert -3.5 <= item["logprob"] <= -1.5


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "headers"),
    [("local-fault-429", None), ("local-smart", {"X-Dev-Fault": "429"})],
)
def test_fault_429_has_retry_after(base: str, model: str, headers: dict[str, str] | None) -> None:
    resp = chat(base, headers, model=model)
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    error = resp.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert error["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("model", "headers"),
    [("local-fault-500", None), ("local-fast", {"X-Dev-Fault": "500"})],
)
def test_fault_500(base: str, model: str, headers: dict[str, str] | None) -> None:
    resp = chat(base, headers, model=model, stream=True)
    assert resp.status_code == 500
    assert resp.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize(
    ("model", "headers"),
    [("local-fault-cut-3", None), ("local-fast", {"X-Dev-Fault": "cut:3"})],
)
def test_cut_stream_ends_after_n_tokens_without_done_or_usage(
    base: str, model: str, headers: dict[str, str] | None
) -> None:
    events, done = stream_events(base, headers, model=model, stream_options={"include_usage": True})
    assert not done
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(content_deltas(events)) == 3
    assert len(events) == 4
    assert not any(e.get("usage") for e in events)
    assert not any(e["choices"][0]["finish_reason"] for e in events)


def test_cut_without_streaming_is_500(base: str) -> None:
    resp = chat(base, {"X-Dev-Fault": "cut:3"})
    assert resp.status_code == 500
    assert resp.json()["error"]["type"] == "server_error"


def test_unknown_fault_header_is_400(base: str) -> None:
    assert chat(base, {"X-Dev-Fault": "teapot"}).status_code == 400


def test_timeout_fault_outlasts_a_short_client_timeout(base: str) -> None:
    payload = {"model": "local-fault-timeout", "messages": MESSAGES}
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}{CHAT}", json=payload, timeout=0.5)
    assert time.monotonic() - started < 1.5


# -- pacing --------------------------------------------------------------------------------


def test_pacing_follows_ttft_and_token_rate_headers(base: str) -> None:
    headers = {"X-Dev-Tokens-Per-S": "20", "X-Dev-TTFT-Ms": "100"}
    payload = {"model": "local-fast", "messages": MESSAGES, "stream": True, "max_tokens": 10}
    started = time.monotonic()
    first_token: float | None = None
    tokens = 0
    with httpx.stream("POST", f"{base}{CHAT}", json=payload, headers=headers) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {") and '"delta":{"content"' in line:
                tokens += 1
                if first_token is None:
                    first_token = time.monotonic() - started
    elapsed = time.monotonic() - started
    assert tokens == 10
    assert first_token is not None
    assert first_token >= 0.1
    # 100 ms to the first token, then 9 gaps of 50 ms.
    assert 0.55 <= elapsed < 2


def test_ttft_applies_without_streaming(base: str) -> None:
    started = time.monotonic()
    assert chat(base, {"X-Dev-TTFT-Ms": "300"}).status_code == 200
    assert time.monotonic() - started >= 0.3


# -- embeddings ----------------------------------------------------------------------------


def embed(base: str, texts: str | list[str], **extra: Any) -> httpx.Response:
    payload = {"model": "local-embed", "input": texts, **extra}
    return httpx.post(f"{base}/v1/embeddings", json=payload, timeout=30)


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_normalised_deterministic_and_semantic(base: str) -> None:
    texts = [
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        "What is the capital of France?",
        "",
    ]
    body = embed(base, texts, encoding_format="float").json()
    assert body["object"] == "list"
    assert body["model"] == "local-embed"
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3]
    vectors = [d["embedding"] for d in body["data"]]
    for vector in vectors:
        assert len(vector) == 384
        assert math.isclose(math.sqrt(_cosine(vector, vector)), 1.0, abs_tol=1e-4)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 20

    again = embed(base, texts[0]).json()["data"][0]["embedding"]
    assert max(abs(x - y) for x, y in zip(again, vectors[0], strict=True)) < 1e-5
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.3


def test_embeddings_base64_matches_float(base: str) -> None:
    floats = embed(base, "hello").json()["data"][0]["embedding"]
    encoded = embed(base, "hello", encoding_format="base64").json()["data"][0]["embedding"]
    decoded = struct.unpack("<384f", base64.b64decode(encoded))
    assert max(abs(x - y) for x, y in zip(decoded, floats, strict=True)) < 1e-6


@pytest.mark.parametrize(
    ("texts", "extra", "status"),
    [
        (["x"] * 513, {}, 400),
        ([], {}, 400),
        ([1, 2], {}, 400),
        ("x", {"dimensions": 128}, 400),
        ("x", {"dimensions": 384}, 200),
        ("x", {"model": "text-embedding-3-small"}, 404),
    ],
)
def test_embedding_request_validation(
    base: str, texts: Any, extra: dict[str, Any], status: int
) -> None:
    assert embed(base, texts, **extra).status_code == status


def test_embedding_faults(base: str) -> None:
    payload = {"model": "local-embed", "input": "x"}
    url = f"{base}/v1/embeddings"
    limited = httpx.post(url, json=payload, headers={"X-Dev-Fault": "429"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert httpx.post(url, json=payload, headers={"X-Dev-Fault": "500"}).status_code == 500


# -- the official SDK ----------------------------------------------------------------------


def test_openai_sdk_streams_with_usage_and_embeds(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="local", max_retries=0)
    expected = chat(base).json()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    stream = client.chat.completions.create(
        model="local-fast",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected["choices"][0]["message"]["content"]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == MESSAGES_PROMPT_TOKENS
    assert usage.completion_tokens == expected["usage"]["completion_tokens"]

    # The SDK asks for base64 unless told otherwise and decodes it itself.
    embedding = client.embeddings.create(model="local-embed", input="hello").data[0].embedding
    assert len(embedding) == 384


# -- process boundaries and pure functions -------------------------------------------------


def test_server_and_devmodel_do_not_import_torch() -> None:
    code = (
        "import sys, apps.gateway.local_provider.server, apps.gateway.local_provider.devmodel;"
        "print('torch' in sys.modules, 'django' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def test_tokens_rejoin_to_the_text() -> None:
    text = 'Hello  world,\n"quoted" text\tends '
    tokens = devmodel.tokenize(text)
    assert "".join(tokens) == text
    assert tokens[:2] == ["Hello  ", "world,\n"]


def test_multiline_passages_end_at_a_blank_line() -> None:
    text = "[2] First line\ncontinues here. Second.\n\nNot part of it.\n[1] One."
    messages = (devmodel.Message("system", text),)
    assert devmodel.find_passages(messages) == [
        (2, "First line continues here. Second."),
        (1, "One."),
    ]
