"""Subscriptions, invoices (with the upcoming-invoice preview) and events over the API."""

from __future__ import annotations

import copy

from apps.billing.local_stripe import billing, objects
from apps.billing.local_stripe.core import Call, fetch, paginate
from apps.billing.local_stripe.errors import StripeError, invalid, missing, no_such, not_implemented
from apps.billing.local_stripe.objects import merge_metadata
from apps.billing.local_stripe.render import render
from apps.billing.local_stripe.store import Json, new_id

# -- subscriptions -------------------------------------------------------------------------


def retrieve_subscription(call: Call) -> Json:
    return fetch(call, "subscriptions", call.path["subscription_exposed_id"], "subscription")


def list_subscriptions(call: Call) -> Json:
    """Without ``status``, every subscription that is not canceled, as on Stripe."""
    status = call.params.get("status")
    subs = [
        sub
        for sub in call.store.all("subscriptions")
        if call.params.get("customer", sub["customer"]) == sub["customer"]
        and (
            status == "all"
            or sub["status"] == status
            or (status is None and sub["status"] != "canceled")
            or (status == "ended" and sub["status"] == "canceled")
        )
        and (
            "price" not in call.params
            or any(item["price"]["id"] == call.params["price"] for item in sub["items"]["data"])
        )
    ]
    return paginate(call, subs, "/v1/subscriptions")


def update_subscription(call: Call) -> Json:
    sub = retrieve_subscription(call)
    params = call.params
    if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    # Worked out before anything changes, so a refused item leaves the subscription as it was.
    items = _changed_items(call, sub, params["items"]) if "items" in params else None
    before = render(call.store, sub)
    if "cancel_at_period_end" in params:
        billing.mark_cancel(sub, params["cancel_at_period_end"], call.store.now())
    _cancellation_details(call, sub)
    if "metadata" in params:
        sub["metadata"] = merge_metadata(sub["metadata"], params["metadata"])
    if items is not None:
        sub["items"]["data"] = items
    # proration_behavior is accepted and has no effect: no proration items are made.
    call.store.changed()
    billing.emit_update(call.local, before, sub, request=call.request)
    return sub


def _cancellation_details(call: Call, sub: Json) -> None:
    details = call.params.get("cancellation_details", {})
    for name in ("comment", "feedback"):
        if name in details:
            sub["cancellation_details"][name] = details[name] or None


def _changed_items(call: Call, sub: Json, changes: list[Json]) -> list[Json]:
    """The items after ``items[i]``: ``{id, deleted}`` removes, ``{id, price?, quantity?}``
    changes, ``{price, quantity?}`` adds; the subscription keeps its period (no prorations)."""
    items: list[Json] = copy.deepcopy(sub["items"]["data"])
    period = (sub["current_period_start"], sub["current_period_end"])
    for index, change in enumerate(changes):
        where = f"items[{index}]"
        extra = sorted(set(change) - {"id", "price", "quantity", "deleted", "clear_usage"})
        if extra:
            raise not_implemented(f"`{where}[{extra[0]}]`", f"{where}[{extra[0]}]")
        if "id" not in change:
            if "price" not in change:
                raise missing(f"{where}[price]")
            price = fetch(call, "prices", change["price"], "price", f"{where}[price]")
            _check_price(sub, items, None, price, f"{where}[price]")
            quantity = _quantity(price, change, default=1, where=where)
            items.append(objects.subscription_item(price, quantity, sub["id"], period))
            continue
        item = next((it for it in items if it["id"] == change["id"]), None)
        if item is None:
            raise no_such("subscription item", change["id"], f"{where}[id]", status=400)
        if change.get("deleted"):
            items.remove(item)
            continue
        price = item["price"]
        if "price" in change:
            price = fetch(call, "prices", change["price"], "price", f"{where}[price]")
            _check_price(sub, items, item, price, f"{where}[price]")
        quantity = _quantity(price, change, default=item["quantity"] or 1, where=where)
        item.update(price=price, plan=objects.plan_of(price), quantity=quantity)
    if not items:
        raise invalid("A subscription must have at least one item.", "items")
    return items


def _quantity(price: Json, change: Json, *, default: int, where: str) -> int | None:
    """Metered items have no quantity, as on Stripe; licensed ones default to ``default``."""
    if price["recurring"]["usage_type"] != "metered":
        return int(change.get("quantity", default))
    if "quantity" in change:
        raise invalid(
            "Quantity should not be specified where usage_type is `metered`.",
            f"{where}[quantity]",
        )
    return None


def _check_price(sub: Json, items: list[Json], item: Json | None, price: Json, param: str) -> None:
    if not price["active"] or price["recurring"] is None:
        raise invalid("Subscription items need an active recurring price.", param)
    others = [other["price"] for other in items if other is not item]
    if price["currency"] != sub["currency"] or any(
        other["recurring"]["interval"] != price["recurring"]["interval"] for other in others
    ):
        raise invalid(
            "All prices in a subscription must have the same currency and interval.", param
        )


def cancel_subscription(call: Call) -> Json:
    """``DELETE``: ends now. ``invoice_now`` bills the usage so far; ``prorate`` credits
    nothing (no prorations here)."""
    sub = retrieve_subscription(call)
    if sub["status"] == "canceled":
        raise invalid("This subscription has already been canceled.")
    now = call.store.now()
    _cancellation_details(call, sub)
    # Usage so far: events stamped this very second count too.
    final = (sub["current_period_start"], now + 1) if call.params.get("invoice_now") else None
    billing.end(call.local, sub, at=now, final_usage=final, request=call.request)
    return sub


# -- invoices ------------------------------------------------------------------------------


def list_invoices(call: Call) -> Json:
    params = call.params
    invoices = [
        invoice
        for invoice in call.store.all("invoices")
        if params.get("customer", invoice["customer"]) == invoice["customer"]
        and params.get("status", invoice["status"]) == invoice["status"]
        and params.get("subscription", _subscription_of(invoice)) == _subscription_of(invoice)
    ]
    return paginate(call, invoices, "/v1/invoices")


def _subscription_of(invoice: Json) -> str:
    return str(invoice["parent"]["subscription_details"]["subscription"])


def retrieve_invoice(call: Call) -> Json:
    return fetch(call, "invoices", call.path["invoice"], "invoice")


def preview_invoice(call: Call) -> Json:
    """``POST /v1/invoices/create_preview``: the next invoice of the subscription (given,
    or the customer's newest live one): next period's flat items (none when it ends at
    period end) and this period's metered usage so far."""
    sub = _previewed(call)
    period = (sub["current_period_start"], sub["current_period_end"])
    invoice = billing.build_invoice(
        call.local,
        sub,
        flat=None if sub["cancel_at_period_end"] else billing.next_period(sub, period[1]),
        metered=period,
        billing_reason="upcoming",
        invoice_id=new_id("upcoming_in_"),
    )
    invoice.update(
        status="draft",
        hosted_invoice_url=None,
        number=None,
        next_payment_attempt=period[1],
        period_start=period[0],
        period_end=period[1],
    )
    invoice["status_transitions"]["finalized_at"] = None
    return invoice


def _previewed(call: Call) -> Json:
    params = call.params
    if "subscription" in params:
        sub = fetch(call, "subscriptions", params["subscription"], "subscription", "subscription")
        if params.get("customer", sub["customer"]) != sub["customer"]:
            raise invalid("The subscription does not belong to that customer.", "subscription")
        live = [sub] if sub["status"] != "canceled" else []
        customer_id = sub["customer"]
    elif "customer" in params:
        customer_id = fetch(call, "customers", params["customer"], "customer", "customer")["id"]
        live = [
            sub
            for sub in call.store.all("subscriptions")
            if sub["customer"] == customer_id and sub["status"] != "canceled"
        ]
    else:
        raise missing("customer")
    if not live:
        raise StripeError(
            404, f"No upcoming invoices for customer: {customer_id}", code="invoice_upcoming_none"
        )
    return live[-1]


# -- events --------------------------------------------------------------------------------


def _type_matches(pattern: str, event_type: str) -> bool:
    """Stripe's ``type`` filter takes one ``*`` wildcard: ``invoice.*``."""
    if "*" not in pattern:
        return pattern == event_type
    head, _, tail = pattern.partition("*")
    return event_type.startswith(head) and event_type.endswith(tail)


def _created_matches(created: object, moment: int) -> bool:
    if isinstance(created, int):
        return moment == created
    assert isinstance(created, dict)  # noqa: S101 - the spec allows an int or a range
    bounds = {
        "gt": lambda v: moment > v,
        "gte": lambda v: moment >= v,
        "lt": lambda v: moment < v,
        "lte": lambda v: moment <= v,
    }
    return all(bounds[name](value) for name, value in created.items())


def list_events(call: Call) -> Json:
    params = call.params
    types = params.get("types")
    if types is not None and "type" in params:
        raise invalid("You may only specify one of these parameters: type, types.", "types")
    events = [
        event
        for event in call.store.all("events")
        if ("type" not in params or _type_matches(params["type"], event["type"]))
        and (types is None or event["type"] in types)
        and ("created" not in params or _created_matches(params["created"], event["created"]))
        and (
            "delivery_success" not in params
            or params["delivery_success"] == (event["pending_webhooks"] == 0)
        )
    ]
    return paginate(call, events, "/v1/events")


def retrieve_event(call: Call) -> Json:
    return fetch(call, "events", call.path["id"], "event")
