"""Checkout Sessions (``mode=subscription``) and Customer Portal sessions.

A session's ``url`` is this server's hosted page (``hosted.py``); paying there calls
``complete``, which creates what Stripe creates: the customer if none was given, the
subscription, its first invoice (paid), and the events, in Stripe's order:
``customer.subscription.created``, ``invoice.paid``, ``checkout.session.completed``.
"""

from __future__ import annotations

from apps.billing.local_stripe import billing, objects
from apps.billing.local_stripe.core import Call, Local, fetch
from apps.billing.local_stripe.errors import invalid, missing, not_implemented
from apps.billing.local_stripe.objects import merge_metadata
from apps.billing.local_stripe.store import Json, new_id


def _line_items(call: Call) -> list[tuple[Json, int | None]]:
    """(price, quantity) per line: recurring, active, one currency and interval, a
    quantity for licensed prices and none for metered ones."""
    if not call.params.get("line_items"):
        raise missing("line_items")
    lines: list[tuple[Json, int | None]] = []
    for index, line in enumerate(call.params["line_items"]):
        where = f"line_items[{index}]"
        extra = sorted(set(line) - {"price", "quantity"})
        if extra:
            raise not_implemented(f"`{where}[{extra[0]}]`", f"{where}[{extra[0]}]")
        if "price" not in line:
            raise missing(f"{where}[price]")
        price = fetch(call, "prices", line["price"], "price", f"{where}[price]")
        if not price["active"]:
            raise invalid(
                "The price specified is inactive. This field only accepts active prices.",
                f"{where}[price]",
            )
        if price["recurring"] is None:
            raise invalid(
                "`mode=subscription` requires at least one recurring price, and accepts "
                "only recurring prices here.",
                f"{where}[price]",
            )
        metered = price["recurring"]["usage_type"] == "metered"
        if metered and "quantity" in line:
            raise invalid(
                f"Quantity should not be specified where usage_type is `metered`. Remove "
                f"quantity from `{where}`.",
                f"{where}[quantity]",
            )
        if not metered and "quantity" not in line:
            raise missing(f"{where}[quantity]")
        if lines and (
            price["currency"] != lines[0][0]["currency"]
            or price["recurring"]["interval"] != lines[0][0]["recurring"]["interval"]
        ):
            raise invalid(
                "All prices in a subscription must have the same currency and interval.",
                f"{where}[price]",
            )
        lines.append((price, line.get("quantity")))
    return lines


def _session_line(price: Json, quantity: int | None) -> Json:
    """A Checkout line item as ``expand[]=line_items`` shows it."""
    total = billing.amount(price, quantity or 0)
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": price["currency"],
        "description": price["nickname"] or price["product"],
        "price": price,
        "quantity": quantity,
    }


def create_session(call: Call) -> Json:
    params = call.params
    if "mode" not in params:
        raise missing("mode")
    if params["mode"] != "subscription":
        raise not_implemented(f"Checkout with `mode={params['mode']}`", "mode")
    if "success_url" not in params:
        raise missing("success_url")
    if "customer" in params:
        fetch(call, "customers", params["customer"], "customer", "customer")
    subscription_data = params.get("subscription_data", {})
    if set(subscription_data) - {"metadata", "description"}:
        extra = sorted(set(subscription_data) - {"metadata", "description"})[0]
        raise not_implemented(f"`subscription_data[{extra}]`", f"subscription_data[{extra}]")
    lines = _line_items(call)
    session_id = new_id("cs_test_", 58)
    session = objects.checkout_session(
        params,
        call.store.now(),
        session_id,
        call.local.url(f"/checkout/{session_id}"),
        sum(billing.amount(price, quantity or 0) for price, quantity in lines),
    )
    session["currency"] = lines[0][0]["currency"]
    session["_line_items"] = [_session_line(price, quantity) for price, quantity in lines]
    session["_subscription_data"] = subscription_data
    return call.store.add("checkout_sessions", session)


def retrieve_session(call: Call) -> Json:
    return fetch(call, "checkout_sessions", call.path["session"], "checkout.session")


def complete(local: Local, session: Json, *, email: str, name: str) -> Json:
    """The customer paid on the hosted page: create and emit what Stripe does."""
    store = local.store
    now = store.now()
    customer = store.get("customers", session["customer"] or "")
    if customer is None:
        customer = store.add(
            "customers", objects.customer({"email": email or None, "name": name or None}, now)
        )
        local.webhooks.emit("customer.created", customer)
    lines = session["_line_items"]
    first = lines[0]["price"]
    period = (now, billing.period_end(now, first["recurring"], now))
    data = session["_subscription_data"]
    sub = objects.subscription(
        customer["id"], first["currency"], merge_metadata({}, data.get("metadata", {})), period
    )
    sub["description"] = data.get("description")
    sub["items"]["data"] = [
        objects.subscription_item(line["price"], line["quantity"], sub["id"], period)
        for line in lines
    ]
    store.add("subscriptions", sub)
    invoice = billing.issue(
        local,
        billing.build_invoice(
            local, sub, flat=period, metered=None, billing_reason="subscription_create"
        ),
    )
    sub["latest_invoice"] = invoice["id"]
    local.webhooks.emit("customer.subscription.created", sub)
    billing.pay(local, invoice)
    session.update(
        status="complete",
        payment_status="paid",
        customer=customer["id"],
        customer_details={
            "address": None,
            "email": email or customer["email"],
            "name": name or customer["name"],
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        subscription=sub["id"],
        url=None,
    )
    store.changed()
    local.webhooks.emit("checkout.session.completed", session)
    return sub


def create_portal_session(call: Call) -> Json:
    fetch(call, "customers", call.params["customer"], "customer", "customer")
    session_id = new_id("bps_")
    session = objects.portal_session(
        call.params, call.store.now(), session_id, call.local.url(f"/portal/{session_id}")
    )
    return call.store.add("portal_sessions", session)
