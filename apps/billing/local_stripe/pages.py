"""The hosted pages' HTML: Checkout, the Customer Portal, an invoice and short notices.

Plain functions from view data to a page; no template engine (the server imports no
Django). Every page says in a banner that it is a local test page: no real payment is
taken. Styles: system fonts, the app's indigo, one column under 820 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from html import escape

BRAND = "Starter"

CSS = """
:root{--accent:#4f46e5;--accent-dark:#4338ca;--ink:#0f172a;--body:#334155;--muted:#64748b;
--line:#e2e8f0;--bg:#f8fafc;--warn-bg:#fffbeb;--warn:#92400e;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",
Arial,sans-serif;color:var(--ink);background:var(--bg);line-height:1.5;
-webkit-font-smoothing:antialiased}
a{color:var(--accent)}
.testbar{background:var(--warn-bg);color:var(--warn);border-bottom:1px solid #fde68a;
font-size:13px;text-align:center;padding:8px 16px}
.wrap{max-width:1040px;margin:0 auto;padding:48px 24px 64px}
.narrow{max-width:760px}
.brand{display:flex;align-items:center;gap:10px;font-weight:650;font-size:15px}
.logo{width:28px;height:28px;border-radius:8px;background:var(--accent);color:#fff;
display:grid;place-items:center;font-weight:700;font-size:15px}
.pill{font-size:11px;font-weight:650;letter-spacing:.05em;text-transform:uppercase;
background:#fef3c7;color:var(--warn);border-radius:999px;padding:2px 8px}
.back{color:var(--muted);text-decoration:none;font-size:14px;display:inline-block;
margin-bottom:28px}
.back:hover{color:var(--ink)}
.checkout{display:grid;grid-template-columns:minmax(0,1fr) 440px;gap:72px;align-items:start}
.eyebrow{color:var(--muted);margin:36px 0 4px;font-size:15px}
h1{font-size:30px;line-height:1.2;margin:0 0 6px;letter-spacing:-.015em}
.price{margin:0}
.price .amount{font-size:38px;font-weight:700;letter-spacing:-.02em}
.price .per{color:var(--muted);font-size:15px;margin-left:4px}
.lines{list-style:none;margin:32px 0 0;padding:0;border-top:1px solid var(--line)}
.lines li{display:flex;justify-content:space-between;gap:20px;padding:16px 0;
border-bottom:1px solid var(--line);font-size:15px}
.lines small{display:block;color:var(--muted);font-size:13px;margin-top:2px}
.lines .num{white-space:nowrap;text-align:right}
.total{display:flex;justify-content:space-between;font-weight:650;padding:16px 0;font-size:16px}
.note{color:var(--muted);font-size:13px;margin:0}
.card{background:#fff;border:1px solid var(--line);border-radius:14px;padding:28px;
box-shadow:0 1px 2px rgba(15,23,42,.04),0 12px 32px rgba(15,23,42,.07)}
h2{font-size:17px;margin:0 0 20px}
label{display:block;font-size:13px;font-weight:550;color:var(--body);margin-bottom:18px}
input{display:block;width:100%;margin-top:6px;font:inherit;font-size:15px;font-weight:400;
padding:10px 12px;
border:1px solid #cbd5e1;border-radius:8px;background:#fff;color:var(--ink)}
input:focus{outline:3px solid rgba(79,70,229,.25);border-color:var(--accent);position:relative}
.cardgroup{margin-top:6px;position:relative}
.cardgroup input{margin:0}
.cardgroup>input{border-radius:8px 8px 0 0;padding-right:64px}
.cardgroup .row{display:grid;grid-template-columns:1fr 1fr}
.cardgroup .row input{border-top:0}
.cardgroup .row input:first-child{border-radius:0 0 0 8px;border-right:0}
.cardgroup .row input:last-child{border-radius:0 0 8px 0}
.visa{position:absolute;right:12px;top:11px;font-size:11px;font-weight:800;font-style:italic;
color:#1a1f71;letter-spacing:.02em;background:#eef2ff;border-radius:4px;padding:1px 6px}
.btn{display:inline-block;border-radius:8px;padding:10px 16px;font:inherit;font-size:15px;
font-weight:600;cursor:pointer;text-decoration:none;border:1px solid transparent;
text-align:center}
.primary{background:var(--accent);color:#fff}
.primary:hover{background:var(--accent-dark)}
.block{display:block;width:100%;padding:12px 16px;font-size:16px}
.secondary{background:#fff;color:var(--ink);border-color:#cbd5e1}
.secondary:hover{background:#f1f5f9}
.danger{background:#fff;color:var(--bad);border-color:#fecaca}
.danger:hover{background:#fef2f2}
.testcards{margin:20px 0 0;padding:14px 16px;border-radius:10px;background:var(--bg);
border:1px dashed #cbd5e1;font-size:13px;color:var(--muted)}
.testcards p{margin:0 0 8px}
.testcards div{display:flex;justify-content:space-between;gap:12px;padding:2px 0}
.testcards code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--body)}
.muted{color:var(--muted)}
.alert{background:#fef2f2;border:1px solid #fecaca;color:var(--bad);border-radius:8px;
padding:10px 12px;font-size:14px;margin:0 0 18px}
.head{display:flex;justify-content:space-between;align-items:center;gap:16px;margin-bottom:32px}
.title{margin:0 0 4px;font-size:26px}
.sub{color:var(--muted);margin:0 0 28px}
.section{margin-bottom:24px}
.plan{display:flex;justify-content:space-between;align-items:flex-start;gap:16px;flex-wrap:wrap}
.plan h3{margin:0;font-size:20px}
.badge{display:inline-block;font-size:12px;font-weight:650;border-radius:999px;
padding:2px 10px;vertical-align:middle;margin-left:8px}
.badge.active,.badge.paid{background:#dcfce7;color:#166534}
.badge.past_due,.badge.open{background:#fee2e2;color:#991b1b}
.badge.canceling{background:#fef3c7;color:#92400e}
.badge.canceled,.badge.draft,.badge.void{background:#f1f5f9;color:#475569}
.meta{color:var(--muted);font-size:14px;margin:6px 0 0}
.items{list-style:none;padding:0;margin:18px 0 0;border-top:1px solid var(--line)}
.items li{display:flex;justify-content:space-between;gap:16px;padding:12px 0;
border-bottom:1px solid var(--line);font-size:14px}
.items small{display:block;color:var(--muted)}
.items .num{white-space:nowrap;text-align:right}
.actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:20px}
.actions form{margin:0}
.devnote{font-size:12.5px;color:var(--muted);margin:12px 0 0}
table{width:100%;border-collapse:collapse;font-size:14px}
th{text-align:left;color:var(--muted);font-weight:550;font-size:12px;text-transform:uppercase;
letter-spacing:.04em;padding:0 0 10px;border-bottom:1px solid var(--line)}
td{padding:12px 0;border-bottom:1px solid var(--line)}
th.num,td.num{text-align:right}
.empty{color:var(--muted);font-size:14px;margin:0}
.foot{display:flex;justify-content:space-between;align-items:center;gap:16px;flex-wrap:wrap}
@media (max-width:820px){
 .wrap{padding:24px 16px 40px}
 .checkout{grid-template-columns:1fr;gap:28px}
 .eyebrow{margin-top:24px}
 .card{padding:22px}
 .hide-sm{display:none}
 .actions .btn,.actions form{width:100%}
 .actions form .btn{width:100%}
 .head .btn{padding:7px 12px;font-size:14px}
}
"""


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    detail: str
    amount: str
    muted: bool = False  # an amount that is not a charge yet ("Billed on usage")


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    date: str
    number: str
    amount: str
    status: str
    url: str


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    status: str  # active | canceling | past_due | canceled
    status_label: str
    when: str
    lines: list[Line]
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (action, label, style)


# -- formatting ----------------------------------------------------------------------------


def money(cents: int | Decimal, currency: str) -> str:
    """``$29.00``; sub-cent unit prices keep their digits: ``$0.000002``."""
    value = Decimal(cents) / 100
    whole_cents = value == value.quantize(Decimal("0.01"))
    text = f"{value:,.2f}" if whole_cents else f"{value.normalize():,f}"
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def date(timestamp: int) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment:%B} {moment.day}, {moment.year}"


def span(start: int, end: int) -> str:
    return f"{date(start)} \u2013 {date(end)}"


def _testbar() -> str:
    return (
        '<div class="testbar"><strong>Test mode.</strong> This page is served by the local '
        "Stripe server for development: no real payment is taken.</div>"
    )


def _brand() -> str:
    return (
        f'<div class="brand"><span class="logo">{BRAND[0]}</span>{BRAND}'
        '<span class="pill">Test mode</span></div>'
    )


def layout(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)} · {BRAND} (test)</title>'
        f"<style>{CSS}</style></head><body>{_testbar()}{body}</body></html>"
    )


def _badge(status: str, label: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(label)}</span>'


def _lines(lines: list[Line]) -> str:
    return "".join(
        f"<li><div>{escape(line.name)}<small>{escape(line.detail)}</small></div>"
        f'<span class="num{" muted" if line.muted else ""}">{escape(line.amount)}</span></li>'
        for line in lines
    )


# -- pages ---------------------------------------------------------------------------------


def checkout(
    *,
    plan_name: str,
    headline_amount: str,
    headline_period: str,
    lines: list[Line],
    due_today: str,
    email: str,
    name: str,
    cancel_url: str | None,
    error: str | None = None,
    card: str = "4242 4242 4242 4242",
) -> str:
    back = (
        f'<a class="back" href="{escape(cancel_url)}">← Back to {BRAND}</a>' if cancel_url else ""
    )
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    body = f"""
<main class="wrap"><div class="checkout">
<section>
  {back}{_brand()}
  <p class="eyebrow">Subscribe to</p>
  <h1>{escape(plan_name)}</h1>
  <p class="price"><span class="amount">{escape(headline_amount)}</span>
    <span class="per">{escape(headline_period)}</span></p>
  <ul class="lines">{_lines(lines)}</ul>
  <div class="total"><span>Due today</span><span>{escape(due_today)}</span></div>
  <p class="note">Usage-based items are billed at the end of each period.</p>
</section>
<section class="card">
  <h2>Pay with card</h2>
  {alert}
  <form method="post">
    <label>Email
      <input name="email" type="email" value="{escape(email)}" autocomplete="email"></label>
    <label>Card information
      <div class="cardgroup">
        <input name="card" value="{escape(card)}" inputmode="numeric"
          autocomplete="cc-number" aria-label="Card number">
        <span class="visa">VISA</span>
        <div class="row">
          <input name="expiry" value="12 / 34" aria-label="Expiry (MM / YY)">
          <input name="cvc" value="123" aria-label="CVC">
        </div>
      </div>
    </label>
    <label>Name on card<input name="name" value="{escape(name)}" autocomplete="cc-name"></label>
    <button class="btn primary block" type="submit">Subscribe</button>
  </form>
  <div class="testcards"><p>Local test checkout: no card is charged. Test cards:</p>
    <div><code>4242 4242 4242 4242</code><span>succeeds</span></div>
    <div><code>4000 0000 0000 0002</code><span>is declined</span></div>
  </div>
</section>
</div></main>"""
    return layout(f"Subscribe to {plan_name}", body)


def portal(
    *,
    customer: str,
    plans: list[Plan],
    invoices: list[InvoiceRow],
    return_url: str | None,
) -> str:
    if plans:
        sections = "".join(_plan(plan) for plan in plans)
    else:
        sections = (
            '<section class="card section"><h2>Current plan</h2>'
            '<p class="empty">No subscription yet.</p></section>'
        )
    if invoices:
        rows = "".join(
            f"<tr><td>{escape(row.date)}</td><td class='hide-sm'>{escape(row.number)}</td>"
            f"<td class='num'>{escape(row.amount)}</td>"
            f"<td class='num'>{_badge(row.status, row.status.title())}</td>"
            f"<td class='num'><a href='{escape(row.url)}'>View</a></td></tr>"
            for row in invoices
        )
        table = (
            "<table><thead><tr><th>Date</th><th class='hide-sm'>Number</th>"
            "<th class='num'>Amount</th><th class='num'>Status</th><th class='num'></th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    else:
        table = '<p class="empty">No invoices yet.</p>'
    back = (
        f'<a class="btn secondary" href="{escape(return_url)}">Return to the app</a>'
        if return_url
        else ""
    )
    body = f"""
<main class="wrap narrow">
  <div class="head">{_brand()}{back}</div>
  <h1 class="title">Billing</h1>
  <p class="sub">{escape(customer)}</p>
  {sections}
  <section class="card section"><h2>Invoices</h2>{table}</section>
</main>"""
    return layout("Billing", body)


def _plan(plan: Plan) -> str:
    buttons = "".join(
        f'<form method="post" action="{escape(action)}"><button class="btn {style}" type="submit">'
        f"{escape(label)}</button></form>"
        for action, label, style in plan.actions
    )
    dev = (
        '<p class="devnote">"Simulate a failed payment" is a local dev tool: the current '
        "period ends now and the renewal payment fails.</p>"
        if any(label.startswith("Simulate") for _, label, _ in plan.actions)
        else ""
    )
    return f"""
<section class="card section">
  <div class="plan"><div>
    <h3>{escape(plan.name)}{_badge(plan.status, plan.status_label)}</h3>
    <p class="meta">{escape(plan.when)}</p>
  </div></div>
  <ul class="items">{_lines(plan.lines)}</ul>
  <div class="actions">{buttons}</div>{dev}
</section>"""


def invoice(
    *,
    number: str,
    status: str,
    billed_to: str,
    period: str,
    lines: list[Line],
    total: str,
    paid_on: str | None,
) -> str:
    paid = f"Paid on {escape(paid_on)}" if paid_on else "Not paid"
    body = f"""
<main class="wrap narrow">
  <div class="head">{_brand()}</div>
  <section class="card">
    <div class="plan"><div>
      <h1 class="title">Invoice {escape(number)}{_badge(status, status.title())}</h1>
      <p class="meta">Billed to {escape(billed_to)} · {escape(period)}</p>
    </div></div>
    <ul class="lines">{_lines(lines)}</ul>
    <div class="total"><span>Total</span><span>{escape(total)}</span></div>
    <p class="note">{paid}</p>
  </section>
</main>"""
    return layout(f"Invoice {number}", body)


def notice(title: str, message: str, link: tuple[str, str] | None = None) -> str:
    action = (
        f'<p><a class="btn primary" href="{escape(link[0])}">{escape(link[1])}</a></p>'
        if link
        else ""
    )
    body = f"""
<main class="wrap narrow">
  <div class="head">{_brand()}</div>
  <section class="card"><h1 class="title">{escape(title)}</h1>
  <p class="sub">{escape(message)}</p>{action}</section>
</main>"""
    return layout(title, body)
