"""Request parameters checked against Stripe's OpenAPI spec, as Stripe checks them.

``spec/stripe-trimmed.json`` holds, per operation the server implements, one object schema
of everything it accepts (``spec/trim.py`` makes it). ``validate`` walks the decoded form
tree with it: unknown names ("Received unknown parameter: x"), missing required ones,
integers, booleans, enums and lengths give Stripe's 400s; the result has ints, bools and
lists where the spec says so, strings elsewhere.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from apps.billing.local_stripe.errors import StripeError, invalid, missing
from apps.billing.local_stripe.forms import path_name

SPEC_FILE = Path(__file__).with_name("spec") / "stripe-trimmed.json"

Schema = dict[str, Any]


@cache
def _operations() -> dict[str, Schema]:
    operations: dict[str, Schema] = json.loads(SPEC_FILE.read_text())["operations"]
    return operations


def has_operation(key: str) -> bool:
    return key in _operations()


def validate(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """``operation`` is ``"POST /v1/prices"`` as in the trimmed spec."""
    checked: dict[str, Any] = _check(_operations()[operation], params, [])
    return checked


def _fits(schema: Schema, value: Any) -> bool:
    """Whether ``value`` has the shape of one ``anyOf`` alternative (before its details)."""
    kind = schema.get("type")
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list) or (
            isinstance(value, dict) and all(key.isdigit() for key in value)
        )
    return isinstance(value, str)


def _any_of(options: list[Schema], value: Any, path: list[str]) -> Any:
    fitting = [option for option in options if _fits(option, value)]
    error: StripeError | None = None
    for option in fitting:
        try:
            return _check(option, value, path)
        except StripeError as exc:
            error = exc
    # A string for a hash or an array ("metadata=x") is better told as such than as a
    # failed match with the empty string that unsets it.
    if isinstance(value, str) and value:
        for option in options:
            if option.get("type") in ("object", "array") and not _fits(option, value):
                return _check(option, value, path)
    if error is not None:
        raise error
    return _check(options[0], value, path)


def _check(schema: Schema, value: Any, path: list[str]) -> Any:
    if "anyOf" in schema:
        return _any_of(schema["anyOf"], value, path)
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, value, path)
    if kind == "array":
        return _array(schema, value, path)
    name = path_name(path)
    if not isinstance(value, str):
        raise invalid(f"Invalid {name}: expected a single value, not a list or an object.", name)
    if kind == "integer":
        if not _is_integer(value):
            raise invalid(f"Invalid integer: {value}", name, code="parameter_invalid_integer")
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise invalid(f"Invalid number: {value}", name) from None
    if kind == "boolean":
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", name)
        return value == "true"
    return _string(schema, value, name)


def _is_integer(value: str) -> bool:
    digits = value.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _string(schema: Schema, value: str, name: str) -> str:
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        choices = [repr(choice) if choice == "" else choice for choice in enum]
        listed = ", ".join(choices[:-1]) + f", or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise invalid(f"Invalid {name}: must be one of {listed}", name)
    limit = schema.get("maxLength")
    if limit is not None and len(value) > limit:
        raise invalid(f"Invalid {name}: must be at most {limit} characters", name)
    if schema.get("format") == "decimal":
        try:
            if not Decimal(value).is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise invalid(f"Invalid decimal: {value}", name) from None
    return value


def _object(schema: Schema, value: Any, path: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("Invalid object", path_name(path))
    properties: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if "properties" not in schema and extra is None:
        return value  # a free-form hash
    # A schema for every name the spec does not list, or None where those are unknown.
    others: Schema | None = extra if isinstance(extra, dict) else None
    unknown = [path_name([*path, key]) for key in value if key not in properties and others is None]
    if unknown:
        label = "parameter" if len(unknown) == 1 else "parameters"
        raise invalid(
            f"Received unknown {label}: {', '.join(unknown)}",
            unknown[0],
            code="parameter_unknown",
        )
    for required in schema.get("required", []):
        if required not in value:
            raise missing(path_name([*path, required]))
    return {
        key: _check(properties.get(key) or others or {}, item, [*path, key])
        for key, item in value.items()
    }


def _array(schema: Schema, value: Any, path: list[str]) -> list[Any]:
    if isinstance(value, dict) and all(key.isdigit() for key in value):
        items = [value[key] for key in sorted(value, key=int)]
        indexes = [int(key) for key in sorted(value, key=int)]
    elif isinstance(value, list):
        items, indexes = value, list(range(len(value)))
    else:
        raise invalid("Invalid array", path_name(path))
    item_schema = schema.get("items", {})
    return [
        _check(item_schema, item, [*path, str(index)])
        for item, index in zip(items, indexes, strict=True)
    ]
