"""Subscriptions over time: periods, usage, invoices, payments, renewals and endings.

Licensed (flat) prices are billed in advance for a period, metered prices in arrears from
the meter's events of the period that ended, as Stripe does. Amounts are integer cents:
a line's amount is rounded half up from the exact decimal. ``run_due`` applies what the
server's clock has reached: renewals, endings at period end, expired Checkout Sessions.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from apps.billing.local_stripe import objects
from apps.billing.local_stripe.core import Local
from apps.billing.local_stripe.objects import Period
from apps.billing.local_stripe.render import render
from apps.billing.local_stripe.store import Json, new_id

RETRY_AFTER_FAILURE_S = 3 * 24 * 3600  # when Stripe would retry a failed invoice


# -- periods and amounts -------------------------------------------------------------------


def period_end(start: int, recurring: Json, anchor: int) -> int:
    """``start`` plus one interval; months keep the anchor's day (clamped: Jan 31 → Feb 28)."""
    moment = datetime.fromtimestamp(start, UTC)
    count = recurring.get("interval_count") or 1
    interval = recurring["interval"]
    if interval in ("day", "week"):
        days = count * (7 if interval == "week" else 1)
        return int((moment + timedelta(days=days)).timestamp())
    months = moment.month - 1 + count * (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(datetime.fromtimestamp(anchor, UTC).day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def amount(price: Json, quantity: int) -> int:
    """Cents for ``quantity`` units: per unit, or tiered (graduated or volume)."""
    if price["billing_scheme"] != "tiered":
        exact = Decimal(price["unit_amount_decimal"] or 0) * quantity
    elif price["tiers_mode"] == "volume":
        tier = next(t for t in price["tiers"] if t["up_to"] is None or quantity <= t["up_to"])
        exact = _tier_cost(tier, quantity)
    else:
        exact, below = Decimal(0), 0
        for tier in price["tiers"]:
            top = quantity if tier["up_to"] is None else min(quantity, tier["up_to"])
            if top <= below:
                break  # no units reach this tier, so neither does its flat amount
            exact += _tier_cost(tier, top - below)
            below = top
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tier_cost(tier: Json, units: int) -> Decimal:
    unit = Decimal(tier["unit_amount_decimal"] or 0)
    flat = Decimal(tier["flat_amount_decimal"] or 0)
    return unit * units + flat


def usage(local: Local, meter_id: str | None, customer: str, period: Period) -> int:
    """The meter's aggregate (sum or count) of ``customer``'s events with start <=
    timestamp < end; a negative sum bills as 0, as on Stripe."""
    meter = local.store.get("meters", meter_id) if meter_id else None
    if meter is None:
        return 0
    name = meter["event_name"]
    values = [
        value
        for _, event_name, event_customer, value, timestamp, _ in local.store.meter_events
        if event_name == name and event_customer == customer and period[0] <= timestamp < period[1]
    ]
    total = len(values) if meter["default_aggregation"]["formula"] == "count" else sum(values)
    return max(0, total)


def is_metered(item: Json) -> bool:
    return bool(item["price"]["recurring"]["usage_type"] == "metered")


# -- invoices ------------------------------------------------------------------------------


def build_invoice(
    local: Local,
    sub: Json,
    *,
    flat: Period | None,
    metered: Period | None,
    billing_reason: str,
    invoice_id: str | None = None,
) -> Json:
    """An open invoice for the subscription: flat items for ``flat``, metered items for
    the usage of ``metered``. Not stored: ``issue`` stores it, a preview does not."""
    invoice_id = invoice_id or new_id("in_")
    lines = []
    products = local.store.objects["products"]
    for item in sub["items"]["data"]:
        if is_metered(item) and metered is not None:
            quantity = usage(local, item["price"]["recurring"]["meter"], sub["customer"], metered)
            period = metered
        elif not is_metered(item) and flat is not None:
            quantity, period = item["quantity"] or 0, flat
        else:
            continue
        lines.append(
            objects.line_item(
                invoice_id=invoice_id,
                sub=sub,
                item=item,
                quantity=quantity,
                amount=amount(item["price"], quantity),
                period=period,
                product_name=products.get(item["price"]["product"], {}).get(
                    "name", item["price"]["product"]
                ),
            )
        )
    customer = local.store.get("customers", sub["customer"])
    assert customer is not None  # noqa: S101 - customers are never deleted here
    return objects.invoice(
        invoice_id=invoice_id,
        customer_obj=customer,
        sub=sub,
        lines=lines,
        period=metered or flat or (sub["current_period_start"], sub["current_period_end"]),
        billing_reason=billing_reason,
        now=local.store.now(),
        base_url=local.settings.public_url,
    )


def issue(local: Local, invoice: Json) -> Json:
    customer = local.store.get("customers", invoice["customer"])
    assert customer is not None  # noqa: S101 - built from an existing customer
    customer["next_invoice_sequence"] += 1
    return local.store.add("invoices", invoice)


def pay(local: Local, invoice: Json) -> None:
    now = local.store.now()
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    local.store.changed()
    local.webhooks.emit("invoice.paid", invoice)


def fail(local: Local, invoice: Json) -> None:
    invoice.update(
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=local.store.now() + RETRY_AFTER_FAILURE_S,
    )
    local.store.changed()
    local.webhooks.emit("invoice.payment_failed", invoice)


# -- subscriptions -------------------------------------------------------------------------


def set_period(sub: Json, period: Period) -> None:
    sub["current_period_start"], sub["current_period_end"] = period
    for item in sub["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = period


def next_period(sub: Json, start: int) -> Period:
    recurring = sub["items"]["data"][0]["price"]["recurring"]
    return start, period_end(start, recurring, sub["billing_cycle_anchor"])


def emit_update(local: Local, before: Json, sub: Json, request: Json | None = None) -> None:
    """``customer.subscription.updated`` if anything changed since ``before`` (as
    ``render`` showed it); ``previous_attributes`` holds the old values of what did."""
    after = render(local.store, sub)
    previous = {key: before[key] for key in after if before.get(key) != after[key]}
    if previous:
        local.store.changed()
        local.webhooks.emit(
            "customer.subscription.updated", sub, previous=previous, request=request
        )


def mark_cancel(sub: Json, cancel: bool, now: int) -> None:
    """``cancel_at_period_end`` and the fields Stripe sets with it."""
    sub.update(
        cancel_at_period_end=cancel,
        cancel_at=sub["current_period_end"] if cancel else None,
        canceled_at=now if cancel else None,
    )
    sub["cancellation_details"]["reason"] = "cancellation_requested" if cancel else None


def renew(local: Local, sub: Json, *, at: int | None = None, payment_fails: bool = False) -> Json:
    """End the current period (at its end, or at ``at``) and start the next one: an invoice
    for the next period's flat items and the ended period's usage, paid or failed."""
    ended: Period = (sub["current_period_start"], at or sub["current_period_end"])
    before = render(local.store, sub)
    if at is not None:
        sub["billing_cycle_anchor"] = at  # periods now run from the cut
    set_period(sub, next_period(sub, ended[1]))
    invoice = issue(
        local,
        build_invoice(
            local,
            sub,
            flat=(sub["current_period_start"], sub["current_period_end"]),
            metered=ended,
            billing_reason="subscription_cycle",
        ),
    )
    sub["latest_invoice"] = invoice["id"]
    if payment_fails:
        sub["status"] = "past_due"
    emit_update(local, before, sub)
    if payment_fails:
        fail(local, invoice)
    else:
        pay(local, invoice)
    return invoice


def end(
    local: Local, sub: Json, *, at: int, final_usage: Period | None, request: Json | None
) -> None:
    """Cancel now (``at``): with ``final_usage``, a last invoice bills that period's usage."""
    if final_usage is not None and any(is_metered(item) for item in sub["items"]["data"]):
        invoice = issue(
            local,
            build_invoice(
                local, sub, flat=None, metered=final_usage, billing_reason="subscription_cycle"
            ),
        )
        sub["latest_invoice"] = invoice["id"]
        pay(local, invoice)
    sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    local.store.changed()
    local.webhooks.emit("customer.subscription.deleted", sub, request=request)


def settle(local: Local, invoice: Json) -> None:
    """Pay an open invoice (the portal's "Pay now"); a past-due subscription with nothing
    else open becomes active again."""
    pay(local, invoice)
    sub_id = invoice["parent"]["subscription_details"]["subscription"]
    sub = local.store.get("subscriptions", sub_id)
    if sub is None or sub["status"] != "past_due":
        return
    still_open = any(
        other["status"] == "open"
        and other["parent"]["subscription_details"]["subscription"] == sub_id
        for other in local.store.all("invoices")
    )
    if not still_open:
        before = render(local.store, sub)
        sub["status"] = "active"
        emit_update(local, before, sub)


def run_due(local: Local) -> None:
    """Apply what the server's clock has reached. A past-due subscription does not renew:
    the app decides its grace period and cancels it (it still ends at period end if set)."""
    now = local.store.now()
    for sub in local.store.all("subscriptions"):
        while sub["status"] in ("active", "past_due") and sub["current_period_end"] <= now:
            if sub["cancel_at_period_end"]:
                period: Period = (sub["current_period_start"], sub["current_period_end"])
                end(local, sub, at=period[1], final_usage=period, request=None)
            elif sub["status"] == "active":
                renew(local, sub)
            else:
                break
    for session in local.store.all("checkout_sessions"):
        if session["status"] == "open" and session["expires_at"] <= now:
            session.update(status="expired", url=None)
            local.store.changed()
            local.webhooks.emit("checkout.session.expired", session)
