"""The hosted pages: Checkout (``/checkout/{id}``), the portal (``/portal/{id}``) and
invoices (``/invoices/{id}``), with the forms that act on them.

Test cards on the Checkout page: ``4242 4242 4242 4242`` pays; ``4000 0000 0000 0002``
and ``4000 0000 0000 9995`` are declined and nothing is created; any other number is
refused as incorrect. Portal buttons post to ``/portal/{id}/subscriptions/{sub}/{action}``
and come back to the portal (303).
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from apps.billing.local_stripe import billing, checkout, pages
from apps.billing.local_stripe.core import Local
from apps.billing.local_stripe.objects import TIMES
from apps.billing.local_stripe.pages import Line, money
from apps.billing.local_stripe.render import render
from apps.billing.local_stripe.store import Json

PAYS = "4242424242424242"
DECLINES = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}


def card_error(number: str) -> str | None:
    digits = re.sub(r"\D", "", number)
    if digits == PAYS:
        return None
    return DECLINES.get(
        digits, "Your card number is incorrect. Use the test card 4242 4242 4242 4242."
    )


# -- describing prices ---------------------------------------------------------------------


def _product_name(local: Local, price: Json) -> str:
    product = local.store.get("products", price["product"])
    return str(product["name"] if product else price["nickname"] or price["product"])


def _per(price: Json) -> str:
    recurring = price["recurring"]
    count = recurring.get("interval_count") or 1
    interval = recurring["interval"]
    return f"per {interval}" if count == 1 else f"every {count} {interval}s"


def _cost(currency: str, unit: Decimal, flat: int | None) -> str:
    each = f"{money(unit, currency)} each" if unit else ""
    fixed = money(flat, currency) if flat else ""
    return " + ".join(part for part in (each, fixed) if part) or "free"


def _usage_terms(price: Json) -> str:
    """``first 1,000,000 free, then $0.000002 each``."""
    currency = price["currency"]
    if price["billing_scheme"] != "tiered":
        return _cost(currency, Decimal(price["unit_amount_decimal"]), None)
    parts, below = [], 0
    for tier in price["tiers"]:
        cost = _cost(currency, Decimal(tier["unit_amount_decimal"] or 0), tier["flat_amount"])
        if tier["up_to"] is None:
            parts.append(f"then {cost}" if below else cost)
        else:
            at = "" if cost == "free" else "at "
            parts.append(f"{'first' if not below else 'up to'} {tier['up_to']:,} {at}{cost}")
            below = tier["up_to"]
    volume = " (volume pricing)" if price["tiers_mode"] == "volume" else ""
    return ", ".join(parts) + volume


def _line(local: Local, price: Json, quantity: int | None, sub: Json | None = None) -> Line:
    """A price as a page line; with ``sub``, a metered line shows the period's usage."""
    name = _product_name(local, price)
    if price["recurring"]["usage_type"] == "metered":
        terms = _usage_terms(price)
        if sub is None:
            return Line(name, f"Billed on usage: {terms}", "Billed on usage", muted=True)
        period = (sub["current_period_start"], sub["current_period_end"])
        used = billing.usage(local, price["recurring"]["meter"], sub["customer"], period)
        total = money(billing.amount(price, used), price["currency"])
        return Line(name, f"{used:,} units this period: {terms}", f"{total} so far")
    times = f" {TIMES} {quantity}" if quantity and quantity > 1 else ""
    return Line(
        name + times,
        f"{money(billing.amount(price, 1), price['currency'])} {_per(price)}",
        money(billing.amount(price, quantity or 0), price["currency"]),
    )


# -- checkout ------------------------------------------------------------------------------


def _checkout_page(local: Local, session: Json, error: str | None = None, card: str = "") -> str:
    lines = session["_line_items"]
    licensed = [ln for ln in lines if ln["price"]["recurring"]["usage_type"] != "metered"]
    headline = (licensed or lines)[0]["price"]
    customer = local.store.get("customers", session["customer"] or "") or {}
    currency = session["currency"]
    return pages.checkout(
        plan_name=_product_name(local, headline),
        headline_amount=money(session["amount_total"], currency),
        headline_period=_per(headline),
        lines=[_line(local, ln["price"], ln["quantity"]) for ln in lines],
        due_today=money(session["amount_total"], currency),
        email=session["customer_email"] or customer.get("email") or "",
        name=customer.get("name") or "",
        cancel_url=session["cancel_url"],
        error=error,
        card=card or "4242 4242 4242 4242",
    )


def _success_url(session: Json) -> str:
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


def _closed(session: Json) -> HTMLResponse:
    if session["status"] == "complete":
        page = pages.notice(
            "Payment complete",
            "This checkout is already paid.",
            (_success_url(session), "Continue"),
        )
    else:
        link = (session["cancel_url"], "Back") if session["cancel_url"] else None
        page = pages.notice("This checkout has expired", "Start again from the app.", link)
    return HTMLResponse(page, status_code=410 if session["status"] == "expired" else 200)


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode(errors="replace")))


def _missing(what: str) -> HTMLResponse:
    return HTMLResponse(pages.notice(f"No such {what}", "Check the link."), status_code=404)


# -- the routes ----------------------------------------------------------------------------


def routes(local: Local) -> list[BaseRoute]:
    store = local.store

    async def checkout_page(request: Request) -> Response:
        """GET shows the page; POST is its form: pay, or show why the card was refused."""
        session = store.get("checkout_sessions", request.path_params["session_id"])
        if session is None:
            return _missing("checkout")
        if session["status"] != "open":
            return _closed(session)
        if request.method == "GET":
            return HTMLResponse(_checkout_page(local, session))
        form = await _form(request)
        error = card_error(form.get("card", ""))
        if error is not None:
            page = _checkout_page(local, session, error, form.get("card", ""))
            return HTMLResponse(page, status_code=402)
        checkout.complete(
            local, session, email=form.get("email", "").strip(), name=form.get("name", "").strip()
        )
        return RedirectResponse(_success_url(session), status_code=303)

    async def portal_page(request: Request) -> Response:
        session = store.get("portal_sessions", request.path_params["session_id"])
        if session is None:
            return _missing("billing portal session")
        return HTMLResponse(_portal_page(local, session))

    async def portal_action(request: Request) -> Response:
        session = store.get("portal_sessions", request.path_params["session_id"])
        sub = store.get("subscriptions", request.path_params["sub_id"])
        if session is None or sub is None or sub["customer"] != session["customer"]:
            return _missing("subscription")
        _act(local, sub, request.path_params["action"])
        return RedirectResponse(f"/portal/{session['id']}", status_code=303)

    async def invoice_page(request: Request) -> Response:
        invoice = store.get("invoices", request.path_params["invoice_id"])
        if invoice is None:
            return _missing("invoice")
        return HTMLResponse(_invoice_page(invoice))

    return [
        Route("/checkout/{session_id}", checkout_page, methods=["GET", "POST"]),
        Route("/portal/{session_id}", portal_page, methods=["GET"]),
        Route(
            "/portal/{session_id}/subscriptions/{sub_id}/{action:str}",
            portal_action,
            methods=["POST"],
        ),
        Route("/invoices/{invoice_id}", invoice_page, methods=["GET"]),
    ]


# -- the portal ----------------------------------------------------------------------------


def _act(local: Local, sub: Json, action: str) -> None:
    """A portal button. Buttons that do not apply to the state (a double click) do nothing."""
    now = local.store.now()
    before = render(local.store, sub)
    if action in ("cancel", "resume") and sub["status"] in ("active", "past_due"):
        billing.mark_cancel(sub, action == "cancel", now)
        billing.emit_update(local, before, sub)
    elif action == "fail" and sub["status"] == "active":
        billing.renew(local, sub, at=now, payment_fails=True)
    elif action == "pay":
        for invoice in local.store.all("invoices"):
            if invoice["status"] == "open" and (
                invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
            ):
                billing.settle(local, invoice)


def _plan(local: Local, session: Json, sub: Json) -> pages.Plan:
    items = sub["items"]["data"]
    licensed = [it for it in items if not billing.is_metered(it)] or items
    name = " + ".join(_product_name(local, it["price"]) for it in licensed)
    end = pages.date(sub["current_period_end"])
    base = f"/portal/{session['id']}/subscriptions/{sub['id']}/"
    state: tuple[str, str, str, list[tuple[str, str, str]]]
    if sub["status"] == "canceled":
        state = ("canceled", "Canceled", f"Ended on {pages.date(sub['ended_at'])}.", [])
    elif sub["status"] == "past_due":
        state = (
            "past_due",
            "Past due",
            "A payment failed. Pay the open invoice to keep the plan.",
            [("pay", "Pay open invoice with 4242", "primary"), ("cancel", "Cancel plan", "danger")],
        )
    elif sub["cancel_at_period_end"]:
        state = (
            "canceling",
            f"Cancels {end}",
            f"The plan ends on {end}; it stays active until then.",
            [("resume", "Resume plan", "primary")],
        )
    else:
        state = (
            "active",
            "Active",
            f"Renews on {end}.",
            [
                ("cancel", "Cancel plan", "danger"),
                ("fail", "Simulate a failed payment", "secondary"),
            ],
        )
    status, label, when, actions = state
    return pages.Plan(
        name=name,
        status=status,
        status_label=label,
        when=when,
        lines=[_line(local, it["price"], it["quantity"], sub) for it in items],
        actions=[(base + action, text, style) for action, text, style in actions],
    )


def _portal_page(local: Local, session: Json) -> str:
    customer = local.store.get("customers", session["customer"]) or {}
    subs = [s for s in local.store.all("subscriptions") if s["customer"] == session["customer"]]
    live = [s for s in subs if s["status"] != "canceled"]
    shown = live or subs[-1:]
    invoices = [
        pages.InvoiceRow(
            date=pages.date(inv["created"]),
            number=inv["number"],
            amount=money(inv["total"], inv["currency"]),
            status=inv["status"],
            url=inv["hosted_invoice_url"],
        )
        for inv in reversed(list(local.store.all("invoices")))
        if inv["customer"] == session["customer"]
    ]
    return pages.portal(
        customer=customer.get("email") or customer.get("name") or session["customer"],
        plans=[_plan(local, session, sub) for sub in reversed(shown)],
        invoices=invoices,
        return_url=session["return_url"],
    )


def _invoice_page(invoice: Json) -> str:
    currency = invoice["currency"]
    return pages.invoice(
        number=invoice["number"],
        status=invoice["status"],
        billed_to=invoice["customer_email"] or invoice["customer_name"] or invoice["customer"],
        period=pages.span(invoice["period_start"], invoice["period_end"]),
        lines=[
            Line(
                line["description"],
                pages.span(line["period"]["start"], line["period"]["end"]),
                money(line["amount"], currency),
            )
            for line in invoice["lines"]["data"]
        ],
        total=money(invoice["total"], currency),
        paid_on=(
            pages.date(invoice["status_transitions"]["paid_at"])
            if invoice["status_transitions"]["paid_at"]
            else None
        ),
    )
