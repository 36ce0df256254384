"""Builders for Stripe's objects, shaped as API version ``API_VERSION`` returns them.

Only the builders know field names and defaults; the handlers decide values. Fields the
server never sets are present with Stripe's empty value (``None``, ``[]``, ``{}``) so code
written against real Stripe finds every key it reads.
"""

from __future__ import annotations

from typing import Any

from apps.billing.local_stripe.store import Json, new_id

# The version stripe-python 16.1.0 pins; objects follow its shapes (periods on
# subscription items, an invoice's subscription under parent.subscription_details).
API_VERSION = "2026-10-28.endive"
ACCOUNT_NAME = "Starter (local Stripe)"

Period = tuple[int, int]  # (start, end) in Unix seconds, end exclusive
TIMES = "\u00d7"  # the multiplication sign in "3 x Pro", as Stripe writes line items


def list_object(data: list[Json], url: str, *, has_more: bool = False) -> Json:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def merge_metadata(current: Json, update: Any) -> Json:
    """Stripe's rules: keys merge, an empty value deletes its key, ``metadata=""`` clears."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _base(prefix: str, kind: str, now: int, object_id: str | None = None) -> Json:
    return {"id": object_id or new_id(prefix), "object": kind, "created": now, "livemode": False}


def customer(params: Json, now: int) -> Json:
    obj = _base("cus_", "customer", now)
    return {
        **obj,
        "address": None,
        "balance": 0,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": obj["id"][4:12].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": params.get("preferred_locales", []),
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def product(params: Json, now: int) -> Json:
    return {
        **_base("prod_", "product", now, params.get("id")),
        "active": params.get("active", True),
        "default_price": None,
        "description": params.get("description"),
        "images": [],
        "marketing_features": [],
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params["name"],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": params.get("statement_descriptor"),
        "tax_code": None,
        "type": "service",
        "unit_label": params.get("unit_label"),
        "updated": now,
        "url": None,
    }


def price(params: Json, now: int, tiers: list[Json] | None) -> Json:
    recurring = params.get("recurring")
    unit_amount_decimal = params.get("unit_amount_decimal")
    if unit_amount_decimal is None and params.get("unit_amount") is not None:
        unit_amount_decimal = str(params["unit_amount"])
    return {
        **_base("price_", "price", now),
        "active": params.get("active", True),
        "billing_scheme": params.get("billing_scheme", "per_unit"),
        "currency": params["currency"].lower(),
        "custom_unit_amount": None,
        "lookup_key": params.get("lookup_key"),
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "nickname": params.get("nickname"),
        "product": params["product"],
        "recurring": None
        if recurring is None
        else {
            "interval": recurring["interval"],
            "interval_count": recurring.get("interval_count", 1),
            "meter": recurring.get("meter"),
            "trial_period_days": None,
            "usage_type": recurring.get("usage_type", "licensed"),
        },
        "tax_behavior": params.get("tax_behavior", "unspecified"),
        "tiers": tiers,
        "tiers_mode": params.get("tiers_mode"),
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": params.get("unit_amount"),
        "unit_amount_decimal": unit_amount_decimal,
    }


def plan_of(price_obj: Json) -> Json:
    """The legacy ``plan`` Stripe still puts on subscription items, made from the price."""
    recurring = price_obj["recurring"] or {}
    return {
        "id": price_obj["id"],
        "object": "plan",
        "active": price_obj["active"],
        "amount": price_obj["unit_amount"],
        "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": price_obj["billing_scheme"],
        "created": price_obj["created"],
        "currency": price_obj["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price_obj["metadata"],
        "meter": recurring.get("meter"),
        "nickname": price_obj["nickname"],
        "product": price_obj["product"],
        "tiers_mode": price_obj["tiers_mode"],
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type"),
    }


def meter(params: Json, now: int) -> Json:
    mapping = params.get("customer_mapping") or {}
    value_settings = params.get("value_settings") or {}
    return {
        **_base("mtr_test_", "billing.meter", now),
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
            "type": mapping.get("type", "by_id"),
        },
        "default_aggregation": {"formula": params["default_aggregation"]["formula"]},
        "display_name": params["display_name"],
        "event_name": params["event_name"],
        "event_time_window": params.get("event_time_window"),
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_settings.get("event_payload_key", "value")},
    }


def subscription_item(price_obj: Json, quantity: int | None, sub_id: str, period: Period) -> Json:
    return {
        **_base("si_", "subscription_item", period[0]),
        "billing_thresholds": None,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price_obj),
        "price": price_obj,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(customer_id: str, currency: str, metadata: Json, period: Period) -> Json:
    obj = _base("sub_", "subscription", period[0])
    return {
        **obj,
        "application": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period[0],
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "currency": currency,
        # Not in API versions since 2025-03-31 (they moved to the items); kept equal to
        # the items' period for code that reads the subscription.
        "current_period_end": period[1],
        "current_period_start": period[0],
        "customer": customer_id,
        "days_until_due": None,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object([], f"/v1/subscription_items?subscription={obj['id']}"),
        "latest_invoice": None,
        "metadata": metadata,
        "pause_collection": None,
        "pending_update": None,
        "schedule": None,
        "start_date": period[0],
        "status": "active",
        "test_clock": None,
        "trial_end": None,
        "trial_start": None,
    }


def line_item(
    *,
    invoice_id: str | None,
    sub: Json,
    item: Json,
    quantity: int,
    amount: int,
    period: Period,
    product_name: str,
) -> Json:
    price_obj = item["price"]
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": price_obj["currency"],
        "description": f"{quantity:,} {TIMES} {product_name}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": quantity,
        "subtotal": amount,
        "taxes": [],
    }


def invoice(
    *,
    invoice_id: str,
    customer_obj: Json,
    sub: Json,
    lines: list[Json],
    period: Period,
    billing_reason: str,
    now: int,
    base_url: str,
) -> Json:
    total = sum(line["amount"] for line in lines)
    number = f"{customer_obj['invoice_prefix']}-{customer_obj['next_invoice_sequence']:04d}"
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": ACCOUNT_NAME,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": sub["currency"],
        "customer": customer_obj["id"],
        "customer_email": customer_obj["email"],
        "customer_name": customer_obj["name"],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": now,
        "ending_balance": 0,
        "hosted_invoice_url": f"{base_url}/invoices/{invoice_id}",
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "lines": list_object(lines, f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]},
            "type": "subscription_details",
        },
        "period_end": period[1],
        "period_start": period[0],
        "starting_balance": 0,
        "status": "open",
        "status_transitions": {
            "finalized_at": now,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def checkout_session(params: Json, now: int, session_id: str, url: str, amount: int) -> Json:
    return {
        **_base("cs_test_", "checkout.session", now, session_id),
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "currency": None,
        "customer": params.get("customer"),
        "customer_creation": None if params.get("customer") else "always",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "expires_at": now + 24 * 3600,
        "invoice": None,
        "locale": None,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "mode": params["mode"],
        "payment_status": "unpaid",
        "status": "open",
        "subscription": None,
        "success_url": params.get("success_url"),
        "ui_mode": "hosted",
        "url": url,
    }


def portal_session(params: Json, now: int, session_id: str, url: str) -> Json:
    return {
        **_base("bps_", "billing_portal.session", now, session_id),
        "configuration": "bpc_local",
        "customer": params["customer"],
        "flow": None,
        "locale": None,
        "on_behalf_of": None,
        "return_url": params.get("return_url"),
        "url": url,
    }


def event(
    event_type: str,
    data_object: Json,
    now: int,
    *,
    previous: Json | None,
    request: Json,
    pending_webhooks: int,
) -> Json:
    data: Json = {"object": data_object}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        **_base("evt_", "event", now),
        "api_version": API_VERSION,
        "data": data,
        "pending_webhooks": pending_webhooks,
        "request": request,
        "type": event_type,
    }
