"""Customers, products and prices: create, retrieve, update, list.

Prices behave as Stripe's: amounts, currency and recurrence are fixed once created (a
new amount is a new price, which can take over the lookup key with
``transfer_lookup_key``); a lookup key belongs to one price at a time.
"""

from __future__ import annotations

from apps.billing.local_stripe import objects
from apps.billing.local_stripe.core import Call, fetch, paginate
from apps.billing.local_stripe.errors import StripeError, invalid, missing
from apps.billing.local_stripe.objects import merge_metadata
from apps.billing.local_stripe.store import Json

# -- customers -----------------------------------------------------------------------------


def create_customer(call: Call) -> Json:
    return call.store.add("customers", objects.customer(call.params, call.store.now()))


def retrieve_customer(call: Call) -> Json:
    return fetch(call, "customers", call.path["customer"], "customer")


def update_customer(call: Call) -> Json:
    customer = fetch(call, "customers", call.path["customer"], "customer")
    _update(call, customer, ("email", "name", "description", "phone", "preferred_locales"))
    return customer


def _update(call: Call, obj: Json, fields: tuple[str, ...]) -> None:
    """Set the plain fields given; merge ``metadata`` by Stripe's rules."""
    for name in fields:
        if name in call.params:
            obj[name] = call.params[name] if call.params[name] != "" else None
    if "metadata" in call.params:
        obj["metadata"] = merge_metadata(obj["metadata"], call.params["metadata"])
    call.store.changed()


# -- products ------------------------------------------------------------------------------


def create_product(call: Call) -> Json:
    product_id = call.params.get("id")
    if product_id is not None and call.store.get("products", product_id) is not None:
        raise invalid("Product already exists.", "id", code="resource_already_exists")
    return call.store.add("products", objects.product(call.params, call.store.now()))


def retrieve_product(call: Call) -> Json:
    return fetch(call, "products", call.path["id"], "product")


def update_product(call: Call) -> Json:
    product = fetch(call, "products", call.path["id"], "product")
    if "default_price" in call.params:
        fetch(call, "prices", call.params["default_price"], "price", "default_price")
    fields = ("name", "active", "description", "statement_descriptor", "unit_label")
    _update(call, product, (*fields, "default_price"))
    product["updated"] = call.store.now()
    return product


def list_products(call: Call) -> Json:
    products = [
        product
        for product in call.store.all("products")
        if call.params.get("active", product["active"]) == product["active"]
        and ("ids" not in call.params or product["id"] in call.params["ids"])
    ]
    return paginate(call, products, "/v1/products")


# -- prices --------------------------------------------------------------------------------


def _tiers(call: Call) -> list[Json] | None:
    """Stripe's checks on ``billing_scheme=tiered``; the tiers as stored (up_to None = inf)."""
    params = call.params
    if params.get("billing_scheme") != "tiered":
        if "tiers" in params or "tiers_mode" in params:
            raise invalid("Tiers require `billing_scheme=tiered`.", "billing_scheme")
        if ("unit_amount" in params) == ("unit_amount_decimal" in params):
            raise invalid(
                "Exactly one of unit_amount or unit_amount_decimal is required "
                "for billing_scheme=per_unit.",
                "unit_amount",
            )
        return None
    if "tiers_mode" not in params:
        raise missing("tiers_mode")
    if not params.get("tiers"):
        raise missing("tiers")
    if "unit_amount" in params or "unit_amount_decimal" in params:
        raise invalid("A tiered price takes its amounts from `tiers`.", "unit_amount")
    tiers, below = [], 0
    for index, tier in enumerate(params["tiers"]):
        up_to = None if tier["up_to"] == "inf" else tier["up_to"]
        last = index == len(params["tiers"]) - 1
        if (up_to is None) != last or (up_to is not None and up_to <= below):
            raise invalid(
                "Tiers must have increasing `up_to` values, and only the last one `inf`.",
                f"tiers[{index}][up_to]",
            )
        below = up_to or below
        tiers.append(
            {
                "flat_amount": tier.get("flat_amount"),
                "flat_amount_decimal": _decimal(tier, "flat_amount"),
                "unit_amount": tier.get("unit_amount"),
                "unit_amount_decimal": _decimal(tier, "unit_amount"),
                "up_to": up_to,
            }
        )
    return tiers


def _decimal(params: Json, name: str) -> str | None:
    """``unit_amount`` and ``unit_amount_decimal`` are one value in two forms."""
    if f"{name}_decimal" in params:
        return str(params[f"{name}_decimal"])
    return None if params.get(name) is None else str(params[name])


def _take_lookup_key(call: Call, price: Json | None) -> None:
    """Check, or with ``transfer_lookup_key`` free, the lookup key being set."""
    key = call.params.get("lookup_key")
    if not key:
        return
    holder = next(
        (
            other
            for other in call.store.all("prices")
            if other["lookup_key"] == key and other is not price
        ),
        None,
    )
    if holder is None:
        return
    if not call.params.get("transfer_lookup_key"):
        raise invalid(
            f"A price ({holder['id']}) already uses the lookup key `{key}`; pass "
            "`transfer_lookup_key=true` to move it to this price.",
            "lookup_key",
        )
    holder["lookup_key"] = None


def create_price(call: Call) -> Json:
    params = call.params
    if "product" not in params:
        raise missing("product")
    fetch(call, "products", params["product"], "product", "product")
    recurring = params.get("recurring")
    if recurring and recurring.get("usage_type") == "metered":
        if "meter" not in recurring:
            raise missing("recurring[meter]")
        fetch(call, "meters", recurring["meter"], "billing meter", "recurring[meter]")
    tiers = _tiers(call)
    _take_lookup_key(call, None)
    return call.store.add("prices", objects.price(params, call.store.now(), tiers))


def retrieve_price(call: Call) -> Json:
    return fetch(call, "prices", call.path["price"], "price")


def update_price(call: Call) -> Json:
    price = fetch(call, "prices", call.path["price"], "price")
    _take_lookup_key(call, price)
    _update(call, price, ("active", "lookup_key", "nickname"))
    return price


def list_prices(call: Call) -> Json:
    params = call.params
    lookup_keys = params.get("lookup_keys")
    if lookup_keys is not None and len(lookup_keys) > 10:
        raise StripeError(400, "You may pass at most 10 lookup keys.", param="lookup_keys")
    prices = [
        price
        for price in call.store.all("prices")
        if params.get("active", price["active"]) == price["active"]
        and params.get("product", price["product"]) == price["product"]
        and params.get("type", price["type"]) == price["type"]
        and params.get("currency", price["currency"]) == price["currency"]
        and (lookup_keys is None or price["lookup_key"] in lookup_keys)
    ]
    return paginate(call, prices, "/v1/prices")
