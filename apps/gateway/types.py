"""The gateway's neutral types: what callers pass in and get back. No vendor types leak out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from apps.core.errors import ServiceError

Feature = str  # "chat", "rag_ingest", "batch_summary", "semantic_cache", ...


@dataclass(frozen=True)
class CallContext:
    """Who is calling and why. Goes with every gateway call; the tenant comes from the
    authenticated session, API key or task argument, never from the client."""

    tenant_id: uuid.UUID | str
    feature: Feature
    user_id: int | None = None
    api_key_id: uuid.UUID | None = None
    request_id: str = ""


ErrorCode = Literal[
    "invalid_request",
    "context_too_long",
    "rate_limited",
    "budget_exceeded",
    "guardrail_blocked",
    "provider_unavailable",
]


class GatewayError(ServiceError):
    """A call the gateway refused or could not complete. ``message`` tells a person what
    to do; ``retry_after`` (seconds) is set when waiting helps."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = True,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.permanent = permanent


PROVIDER_DOWN = (
    "The AI provider is not answering right now. Try again in a minute; nothing was charged."
)


def provider_unavailable() -> GatewayError:
    return GatewayError("provider_unavailable", PROVIDER_DOWN, retry_after=30, permanent=False)


@dataclass(frozen=True)
class TokenEvent:
    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class UsageEvent:
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    cache: str = ""
    type: Literal["usage"] = "usage"


@dataclass(frozen=True)
class DoneEvent:
    finish_reason: str
    served_model: str
    usage_record_id: uuid.UUID | None = None
    # Guardrail checks that flagged or redacted something in the question or the answer.
    guardrail_flags: tuple[str, ...] = ()
    type: Literal["done"] = "done"


@dataclass(frozen=True)
class ErrorEvent:
    code: ErrorCode
    message: str
    retry_after: float | None = None
    usage_record_id: uuid.UUID | None = None
    type: Literal["error"] = "error"


StreamEvent = TokenEvent | UsageEvent | DoneEvent | ErrorEvent


@dataclass
class Completion:
    content: str
    served_model: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    finish_reason: str = "stop"
    cache: str = ""
    mean_logprob: float | None = None
    usage_record_ids: list[uuid.UUID] = field(default_factory=list)
    # Guardrail checks that flagged or redacted something in the question or the answer.
    guardrail_flags: tuple[str, ...] = ()
