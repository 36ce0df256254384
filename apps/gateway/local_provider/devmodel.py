"""The deterministic "dev model": pure functions, no I/O, no torch.

Everything the chat route answers is decided here from the request body alone (plus the
fault header), so the same model and messages always give the same answer, tokens,
usage and logprobs. The server only adds timing and the wire format.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

LABEL = "[dev model] "
CHAT_MODELS: tuple[str, ...] = ("local-fast", "local-smart", "local-unsure")
EMBED_MODEL = "local-embed"
LISTED_MODELS: tuple[str, ...] = (*CHAT_MODELS, EMBED_MODEL)
FAULT_MODELS_HELP = "local-fault-429, local-fault-500, local-fault-timeout, local-fault-cut-N"

EXPLANATION = (
    "This is a deterministic development model for offline development: the same model "
    "and messages always give the same answer, and no real provider was called."
)
SMART_EXTRA = "As local-smart, it adds this sentence, so smart answers are longer than fast ones."

MAX_QUOTE_CHARS = 200
MAX_PASSAGES = 3
# A passage's first sentence is quoted whole; the cap only stops a passage without any
# sentence punctuation from being copied into the answer in full.
MAX_SENTENCE_CHARS = 300
# Per message, on top of its words: mirrors the few framing tokens real chat formats add.
MESSAGE_OVERHEAD_TOKENS = 4
MAX_TOP_LOGPROBS = 20
MAX_ANSWER_TOKENS = 100_000
PADDING = "Padding sentence {n} makes this dev answer as long as the request asked for."

Profile = Literal["local-fast", "local-smart", "local-unsure"]
FaultKind = Literal["429", "500", "timeout", "cut"]

_TOKEN_RE = re.compile(r"\s*\S+\s*")
_PASSAGE_RE = re.compile(r"^\s*\[(\d+)\]\s*(.*)$")
_SENTENCE_RE = re.compile(r"^(.+?[.!?])(?=\s|$)")
_FAULT_MODEL_RE = re.compile(r"^local-fault-(429|500|timeout|cut-(\d+))$")
_FAULT_HEADER_RE = re.compile(r"^(429|500|timeout|cut:(\d+))$")


class RequestError(Exception):
    """A client error answered in OpenAI's error shape: ``{"error": {...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body; ``param`` and ``code`` appear only when set."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        return {"error": error}


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure. ``cut_after`` is the number of content tokens sent before a cut."""

    kind: FaultKind
    cut_after: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body."""

    model: str
    profile: Profile
    model_fault: Fault | None
    messages: tuple[Message, ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    logprobs: bool
    top_logprobs: int


@dataclass(frozen=True, slots=True)
class Completion:
    """What the dev model emits for a request: exactly these tokens, in order."""

    tokens: tuple[str, ...]
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    logprobs: tuple[float, ...] | None

    @property
    def content(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


# -- models and faults ---------------------------------------------------------------------


def model_not_found(model: str, available: str) -> RequestError:
    return RequestError(
        404,
        f"The model '{model}' does not exist. Available: {available}.",
        param="model",
        code="model_not_found",
    )


def resolve_chat_model(model: str) -> tuple[Profile, Fault | None]:
    """Map a chat model name to its behaviour profile and built-in fault.

    Fault models answer like ``local-fast`` apart from their fault. Raises a 404
    ``RequestError`` for anything else (including ``local-embed``, which cannot chat).
    """
    if model == "local-fast":
        return "local-fast", None
    if model == "local-smart":
        return "local-smart", None
    if model == "local-unsure":
        return "local-unsure", None
    match = _FAULT_MODEL_RE.match(model)
    if match is None:
        raise model_not_found(model, f"{', '.join(CHAT_MODELS)}; fault models {FAULT_MODELS_HELP}")
    if match.group(2) is not None:
        return "local-fast", Fault("cut", int(match.group(2)))
    kind: FaultKind = match.group(1)  # type: ignore[assignment]  # the regex allows only these
    return "local-fast", Fault(kind)


def parse_fault_header(value: str) -> Fault:
    """Parse ``X-Dev-Fault``: ``429``, ``500``, ``timeout`` or ``cut:N``."""
    match = _FAULT_HEADER_RE.match(value.strip().lower())
    if match is None:
        raise RequestError(400, f"Unknown X-Dev-Fault '{value}'. Use 429, 500, timeout or cut:N.")
    if match.group(2) is not None:
        return Fault("cut", int(match.group(2)))
    kind: FaultKind = match.group(1)  # type: ignore[assignment]  # the regex allows only these
    return Fault(kind)


# -- request validation --------------------------------------------------------------------


def _content_text(content: Any, index: int) -> str:
    """Text of a message's content: a string, null, or a list of ``{"type":"text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                break
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    break
                texts.append(part["text"])
        else:
            return "\n".join(texts)
    raise RequestError(
        400,
        f"messages[{index}].content must be a string or a list of content parts.",
        param=f"messages[{index}].content",
    )


def parse_messages(raw: Any) -> tuple[Message, ...]:
    """Validate ``messages``: a non-empty list of ``{role, content}`` objects.

    ``content`` may be null or absent only for assistant messages (tool-call turns).
    """
    if not isinstance(raw, list) or not raw:
        raise RequestError(400, "'messages' must be a non-empty list.", param="messages")
    messages = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise RequestError(
                400,
                f"messages[{index}] must be an object with a string 'role' and a 'content'.",
                param=f"messages[{index}]",
            )
        if "content" not in item and item["role"] != "assistant":
            raise RequestError(
                400, f"messages[{index}] is missing 'content'.", param=f"messages[{index}]"
            )
        messages.append(Message(item["role"], _content_text(item.get("content"), index)))
    return tuple(messages)


def _optional_int(body: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    # bool is an int subclass; `true` is not a token count.
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RequestError(400, f"'{name}' must be an integer >= {low}.", param=name)
    if high is not None and value > high:
        raise RequestError(400, f"'{name}' must be an integer <= {high}.", param=name)
    return value


def _optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(400, f"'{name}' must be a boolean.", param=name)
    return value


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a decoded chat-completions body. Raises ``RequestError`` (400 or 404).

    Fields OpenAI accepts but the dev model has no use for (tools, user, seed, ...)
    are ignored so LiteLLM can pass them through unchanged.
    """
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' is required and must be a string.", param="model")
    messages = parse_messages(body.get("messages"))
    profile, model_fault = resolve_chat_model(model)

    stream = _optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(400, "'stream_options' must be an object.", param="stream_options")
    include_usage = bool(options and options.get("include_usage") is True)

    # max_completion_tokens is the newer name; it wins when both are sent.
    max_tokens = _optional_int(body, "max_completion_tokens", 1, None)
    if max_tokens is None:
        max_tokens = _optional_int(body, "max_tokens", 1, None)

    n = _optional_int(body, "n", 1, None)
    if n not in (None, 1):
        raise RequestError(400, "The dev model supports only n=1.", param="n")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise RequestError(400, "'temperature' must be a number from 0 to 2.", param="temperature")

    return ChatRequest(
        model=model,
        profile=profile,
        model_fault=model_fault,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        logprobs=_optional_bool(body, "logprobs"),
        top_logprobs=_optional_int(body, "top_logprobs", 0, MAX_TOP_LOGPROBS) or 0,
    )


# -- answer composition --------------------------------------------------------------------


def find_passages(messages: tuple[Message, ...]) -> list[tuple[int, str]]:
    """Retrieved context passages, in order of first appearance, one per number.

    A passage starts on a line beginning with ``[n]`` and runs over the following lines
    up to a blank line or the next ``[m]`` line; its text is whitespace-collapsed.
    """
    passages: dict[int, str] = {}
    for message in messages:
        number: int | None = None
        parts: list[str] = []
        for line in [*message.text.splitlines(), ""]:
            match = _PASSAGE_RE.match(line)
            if match is not None or not line.strip():
                if number is not None and number not in passages:
                    text = " ".join(" ".join(parts).split())
                    if text:
                        passages[number] = text
                number, parts = None, []
                if match is not None:
                    number, parts = int(match.group(1)), [match.group(2)]
            elif number is not None:
                parts.append(line)
    return list(passages.items())


def first_sentence(text: str) -> str:
    """The first sentence of whitespace-collapsed text, ending in ``.``, ``!`` or ``?``."""
    match = _SENTENCE_RE.match(text)
    sentence = match.group(1) if match else text
    if len(sentence) > MAX_SENTENCE_CHARS:
        sentence = sentence[:MAX_SENTENCE_CHARS].rstrip()
    if sentence[-1] not in ".!?":
        sentence += "."
    return sentence


def compose_answer(profile: Profile, messages: tuple[Message, ...]) -> str:
    """The full answer (before any max_tokens cut). Deterministic in its inputs.

    With context passages: "According to [n], <first sentence>" for up to 3 passages.
    Otherwise: the last user message quoted (whitespace collapsed, cut to 200 chars), a
    fixed explanation, and for ``local-smart`` one more sentence.
    """
    passages = find_passages(messages)
    if passages:
        sentences = [
            f"According to [{number}], {first_sentence(text)}"
            for number, text in passages[:MAX_PASSAGES]
        ]
        return LABEL + " ".join(sentences)
    last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
    quote = " ".join(last_user.split())[:MAX_QUOTE_CHARS].rstrip()
    answer = f'{LABEL}You asked: "{quote}". {EXPLANATION}'
    if profile == "local-smart":
        answer += " " + SMART_EXTRA
    return answer


def tokenize(text: str) -> list[str]:
    """Split at word boundaries, each word keeping its following whitespace.

    ``"".join(tokenize(t)) == t`` for any text that is not all whitespace.
    """
    return _TOKEN_RE.findall(text)


def count_prompt_tokens(messages: tuple[Message, ...]) -> int:
    """Sum over messages of (whitespace-separated words + 4)."""
    return sum(len(m.text.split()) + MESSAGE_OVERHEAD_TOKENS for m in messages)


# -- logprobs ------------------------------------------------------------------------------


def token_logprob(model: str, profile: Profile, token: str, position: int) -> float:
    """A deterministic logprob from a hash of (model, token, position).

    ``local-unsure`` draws uniformly from [-3.5, -1.5] (mean about -2.5); the other
    profiles from [-0.35, -0.02], so the gateway can tell confident answers apart.
    """
    digest = hashlib.blake2b(f"{model}\x1f{position}\x1f{token}".encode(), digest_size=8).digest()
    unit = int.from_bytes(digest, "big") / 2**64
    if profile == "local-unsure":
        return round(-(1.5 + 2.0 * unit), 4)
    return round(-(0.02 + 0.33 * unit), 4)


def logprob_entry(token: str, logprob: float, top_logprobs: int) -> dict[str, Any]:
    """One ``logprobs.content`` item. When top_logprobs >= 1 the only alternative listed
    is the chosen token itself (the dev model has no real distribution)."""
    token_bytes = list(token.encode())
    top = [{"token": token, "logprob": logprob, "bytes": token_bytes}] if top_logprobs > 0 else []
    return {"token": token, "logprob": logprob, "bytes": token_bytes, "top_logprobs": top}


# -- the whole completion ------------------------------------------------------------------


def answer_tokens(profile: Profile, messages: tuple[Message, ...], length: int | None) -> list[str]:
    """The answer's tokens. With ``length`` (the ``X-Dev-Answer-Tokens`` header, for load
    tests) the answer is exactly that many tokens: cut short, or padded with numbered
    filler sentences; either way its last token carries no trailing whitespace."""
    answer = compose_answer(profile, messages)
    tokens = tokenize(answer)
    if length is None:
        return tokens
    if len(tokens) < length:
        per_sentence = len(tokenize(PADDING))
        count = (length - len(tokens)) // per_sentence + 1
        padding = " ".join(PADDING.format(n=n) for n in range(1, count + 1))
        tokens = tokenize(f"{answer} {padding}")
    tokens = tokens[:length]
    tokens[-1] = tokens[-1].rstrip()
    return tokens


# A title request: a system message that mentions a title, and room for a short reply.
_TITLE_WORD_RE = re.compile(r"\btitle\b", re.IGNORECASE)
_LEADING_LABEL_RE = re.compile(r"^\s*[A-Za-z]+:\s+")
TITLE_MAX_TOKENS = 32
TITLE_WORDS = 6


def wants_title(request: ChatRequest) -> bool:
    """A request for a conversation title (the chat's titles.py asks for one): a system
    message mentioning a title and ``max_tokens`` at most TITLE_MAX_TOKENS."""
    short = request.max_tokens is not None and request.max_tokens <= TITLE_MAX_TOKENS
    return short and any(
        m.role == "system" and _TITLE_WORD_RE.search(m.text) for m in request.messages
    )


def compose_title(messages: tuple[Message, ...]) -> str:
    """The first six words of the last user message's first line, without a leading
    ``Label:`` and final punctuation: a plausible title, without the dev label."""
    last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
    line = next((part for part in last_user.splitlines() if part.strip()), "")
    words = _LEADING_LABEL_RE.sub("", line, count=1).split()[:TITLE_WORDS]
    return " ".join(words).rstrip(".!?,;:") or "New conversation"


def complete(
    request: ChatRequest, cut_after: int | None = None, length: int | None = None
) -> Completion:
    """Tokens, finish reason, usage and logprobs for a request.

    ``length`` fixes the answer's natural length (see ``answer_tokens``). ``max_tokens``
    stops with "length" after that many tokens. ``cut_after`` (a cut fault) keeps at
    most that many tokens; the finish reason is then never sent.
    """
    if wants_title(request):
        tokens = tokenize(compose_title(request.messages))
    else:
        tokens = answer_tokens(request.profile, request.messages, length)
    finish: Literal["stop", "length"] = "stop"
    if request.max_tokens is not None and len(tokens) > request.max_tokens:
        tokens, finish = tokens[: request.max_tokens], "length"
    if cut_after is not None:
        tokens = tokens[:cut_after]
    logprobs = None
    if request.logprobs:
        logprobs = tuple(
            token_logprob(request.model, request.profile, token, position)
            for position, token in enumerate(tokens)
        )
    return Completion(
        tokens=tuple(tokens),
        finish_reason=finish,
        prompt_tokens=count_prompt_tokens(request.messages),
        logprobs=logprobs,
    )
