"""Objects as responses: private fields dropped, ``expand[]`` applied, hidden fields hidden.

Stripe leaves some fields out unless asked (a price's ``tiers``, a Checkout Session's
``line_items``) and returns ids for related objects unless expanded (``customer``,
``subscription``, ``latest_invoice`` …). Responses and webhook snapshots come from here, as
deep copies, so nothing a caller does to them reaches the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from apps.billing.local_stripe.errors import invalid
from apps.billing.local_stripe.objects import list_object
from apps.billing.local_stripe.store import Json, Store

# Fields holding an id that ``expand[]`` may replace with the object, and where it lives.
EXPANDABLE = {
    "customer": "customers",
    "default_price": "prices",
    "invoice": "invoices",
    "latest_invoice": "invoices",
    "price": "prices",
    "product": "products",
    "subscription": "subscriptions",
}
MAX_DEPTH = 4


def _tiers(store: Store, node: Json) -> Any:
    stored = store.get("prices", node["id"])
    return stored["tiers"] if stored else None


def _line_items(store: Store, node: Json) -> Any:
    stored = store.get("checkout_sessions", node["id"]) or {}
    return list_object(
        stored.get("_line_items", []), f"/v1/checkout/sessions/{node['id']}/line_items"
    )


# Fields Stripe includes only when expanded, by object type.
INCLUDABLE: dict[str, dict[str, Callable[[Store, Json], Any]]] = {
    "price": {"tiers": _tiers},
    "checkout.session": {"line_items": _line_items},
}


def render(store: Store, obj: Json, expand: Iterable[str] = ()) -> Json:
    out: Json = json.loads(json.dumps(obj))
    _hide(out)
    for path in expand:
        steps = path.split(".")
        if len(steps) > MAX_DEPTH:
            raise invalid(
                f"You cannot expand more than {MAX_DEPTH} levels of a property.", "expand"
            )
        _expand(store, out, steps, path)
    return out


def _kind(node: Json) -> str:
    """The object's type; an event's ``data.object`` is a dict, not a type."""
    kind = node.get("object")
    return kind if isinstance(kind, str) else ""


def _hide(node: Any) -> None:
    """Drop private fields (``_…``) and those Stripe shows only when expanded, everywhere."""
    if isinstance(node, dict):
        hidden = [key for key in node if key.startswith("_")]
        hidden += INCLUDABLE.get(_kind(node), {})
        for key in hidden:
            node.pop(key, None)
        for value in node.values():
            _hide(value)
    elif isinstance(node, list):
        for value in node:
            _hide(value)


def _cannot(path: str) -> Exception:
    return invalid(f"This property cannot be expanded ({path}).", "expand")


def _expand(store: Store, node: Json, steps: list[str], path: str) -> None:
    key, rest = steps[0], steps[1:]
    if node.get("object") == "list" and key == "data":
        for item in node["data"]:
            if rest:
                _expand(store, item, rest, path)
        return
    include = INCLUDABLE.get(_kind(node), {}).get(key)
    if include is not None and not rest:
        node[key] = include(store, node)
        return
    value = node.get(key)
    if isinstance(value, str) and key in EXPANDABLE:
        target = store.get(EXPANDABLE[key], value)
        if target is not None:
            value = node[key] = render(store, target)
    if not isinstance(value, dict) or (not rest and key not in EXPANDABLE):
        raise _cannot(path)
    if rest:
        _expand(store, value, rest, path)
