"""Errors of ``/api/v1/`` in the one shape of apps/core/http.py, OpenAI's.

Every endpoint answers its errors through ``error_response``, whether it is a
django-ninja operation (apps/api/api.py turns exceptions into it), the OpenAI-compatible
view (apps/api/openai_compat.py) or another app's router: raise ``ApiError`` from an
endpoint, or ``ApiError.from_gateway`` for a gateway refusal, which keeps the same
status, type and code on every endpoint.
"""

from __future__ import annotations

from django.http import JsonResponse
from ninja.errors import HttpError

from apps.core.http import error_response
from apps.gateway.types import GatewayError

# A gateway refusal keeps its meaning over HTTP (wait and retry, or stop): its status,
# and OpenAI's type and code where OpenAI has its own name for the same refusal.
_GATEWAY = {
    "invalid_request": (400, "invalid_request_error", "invalid_request"),
    "context_too_long": (400, "invalid_request_error", "context_length_exceeded"),
    "rate_limited": (429, "rate_limit_error", "rate_limited"),
    "budget_exceeded": (429, "insufficient_quota", "insufficient_quota"),
    "guardrail_blocked": (400, "invalid_request_error", "guardrail_blocked"),
    "provider_unavailable": (503, "api_error", "provider_unavailable"),
}


def gateway_error_status(code: str) -> tuple[int, str, str]:
    """``(status, type, code)`` for a gateway error code; unknown codes are a 500."""
    return _GATEWAY.get(code, (500, "api_error", code))


def gateway_error_response(
    code: str, message: str, retry_after: float | None = None
) -> JsonResponse:
    """A gateway refusal (a ``GatewayError``'s or a stream's ``ErrorEvent``'s fields)."""
    status, type_, api_code = gateway_error_status(code)
    return error_response(status, message, code=api_code, type_=type_, retry_after=retry_after)


class ApiError(HttpError):
    """Raise from an endpoint to answer ``status`` with ``code`` (and ``param``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        type_: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.param = param
        self.type_ = type_
        self.retry_after = retry_after

    @classmethod
    def from_gateway(cls, error: GatewayError) -> ApiError:
        status, type_, code = gateway_error_status(error.code)
        return cls(status, error.message, code=code, type_=type_, retry_after=error.retry_after)

    def response(self) -> JsonResponse:
        return error_response(
            self.status_code,
            self.message,
            code=self.code,
            param=self.param,
            type_=self.type_,
            retry_after=self.retry_after,
        )
