"""Stripe's error shape: ``{"error": {"type", "message", "param"?, "code"?}}`` and a status.

Handlers raise ``StripeError``; the server turns it into the response. The messages copy
Stripe's wording where the app (or a person reading a log) may rely on it.
"""

from __future__ import annotations

from typing import Any

DOC_URL = "https://docs.stripe.com/error-codes/"


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # Stripe's field name
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL + self.code.replace("_", "-")
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """400 ``invalid_request_error``: the request cannot be served as it is."""
    return StripeError(400, message, param=param, code=code)


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    """As Stripe words it: ``No such customer: 'cus_123'``; 404 for the object a URL
    names, 400 for one a parameter names."""
    return StripeError(
        status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing"
    )


def not_implemented(what: str, param: str | None = None) -> StripeError:
    """A request Stripe would accept but this server does not model. Loud on purpose: a
    silently ignored parameter would make dev behave differently from production."""
    return StripeError(
        400,
        f"{what} is valid in Stripe's API but not implemented by the local Stripe server "
        "(see docs/local-stripe.md).",
        param=param,
    )
