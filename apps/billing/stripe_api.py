"""Stripe, behind one module: the only code that imports ``stripe``.

Everything else speaks the neutral dataclasses and errors below. The client is the
official SDK's ``StripeClient``; with no ``STRIPE_SECRET_KEY`` it talks to the local
Stripe server the dev stack starts (``STRIPE_API_BASE``, docs/local-stripe.md), so the
same code path runs in development, in tests and against Stripe.

Errors say whether a retry can help: ``StripeUnavailable`` (network, 429, 5xx;
``permanent=False``) or ``StripeRefused`` (Stripe said no; the message says why).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings

from apps.billing.catalogue import (
    CURRENCY,
    METER_CUSTOMER_KEY,
    METER_DISPLAY_NAME,
    METER_EVENT_NAME,
    METER_VALUE_KEY,
    PlanPrice,
    plan_for_lookup_key,
)
from apps.core.errors import ServiceError


class StripeUnavailable(ServiceError):
    """Stripe could not be reached or asked us to slow down: retrying later can help."""

    permanent = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code="stripe_unavailable")
        self.retry_after = retry_after


class StripeRefused(ServiceError):
    """Stripe refused the request; retrying the same request will not help."""

    def __init__(self, message: str, *, code: str = "stripe_refused") -> None:
        super().__init__(message, code=code)


class InvalidWebhook(Exception):
    """The payload or its signature is not a genuine, fresh Stripe event."""


@dataclass(frozen=True)
class Subscription:
    id: str
    customer_id: str
    status: str
    plan: str | None  # from its prices' lookup keys; None for a price we do not sell
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    status: str
    amount_due_cents: int
    amount_paid_cents: int
    currency: str
    created: datetime
    hosted_url: str
    customer_id: str = ""
    paid_at: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def amount_due_usd(self) -> Decimal:
        return Decimal(self.amount_due_cents) / 100


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    object: dict[str, Any]


@dataclass(frozen=True)
class MeterSummary:
    start: datetime
    end: datetime
    tokens: int


# --- The client -------------------------------------------------------------------------


def _build(api_key: str, api_base: str, retries: int) -> stripe.StripeClient:
    base = {"api": api_base, "meter_events": api_base} if api_base else None
    return stripe.StripeClient(
        api_key,
        base_addresses=base,  # type: ignore[arg-type]  # a TypedDict of optional keys
        max_network_retries=retries,
    )


_client = functools.cache(_build)


def client() -> stripe.StripeClient:
    """The configured client (one per settings; the SDK's HTTP client is thread-safe)."""
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_RETRIES)


@contextmanager
def _calling(what: str) -> Iterator[None]:
    """Turn the SDK's errors into ours, with a message a person can act on."""
    try:
        yield
    except stripe.RateLimitError as exc:
        raise StripeUnavailable(
            f"Stripe asked us to slow down while {what}. Try again in a minute.",
            retry_after=_retry_after(exc),
        ) from exc
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        raise StripeUnavailable(
            f"Stripe could not be reached while {what}. Nothing was charged; try again "
            "in a few minutes."
        ) from exc
    except stripe.StripeError as exc:
        message = exc.user_message or str(exc) or "Stripe refused the request."
        raise StripeRefused(
            f"Stripe refused {what}: {message}", code=exc.code or "refused"
        ) from exc


def _retry_after(exc: stripe.StripeError) -> float | None:
    value = (exc.headers or {}).get("retry-after") if exc.headers else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _when(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


# --- Customers, Checkout, the portal ----------------------------------------------------


def customer_create(*, tenant_id: str, name: str, email: str) -> str:
    with _calling("creating the customer"):
        customer = client().v1.customers.create(
            params={"name": name, "email": email, "metadata": {"tenant_id": tenant_id}},
            options={"idempotency_key": f"customer-{tenant_id}"},
        )
    return customer.id


def checkout_session_create(
    *, customer_id: str, plan: PlanPrice, tenant_id: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout Session for ``plan`` (its flat and metered prices); its URL."""
    prices = prices_by_lookup_key([plan.flat_lookup_key, plan.tokens_lookup_key])
    missing = {plan.flat_lookup_key, plan.tokens_lookup_key} - prices.keys()
    if missing:
        raise StripeRefused(
            f"The {plan.name} prices are not in Stripe yet ({', '.join(sorted(missing))}): "
            "run `python manage.py stripe_sync`.",
            code="catalogue_missing",
        )
    with _calling("starting Checkout"):
        session = client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": tenant_id,
                "line_items": [
                    {"price": prices[plan.flat_lookup_key], "quantity": 1},
                    {"price": prices[plan.tokens_lookup_key]},
                ],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "subscription_data": {"metadata": {"tenant_id": tenant_id, "plan": plan.plan}},
            }
        )
    if not session.url:
        raise StripeRefused("Stripe returned no Checkout page. Try again.")
    return session.url


def checkout_session_subscription(session_id: str) -> str | None:
    """The subscription a completed Checkout Session made, if any."""
    with _calling("reading the Checkout Session"):
        session = client().v1.checkout.sessions.retrieve(session_id)
    subscription = session.subscription
    if subscription is None:
        return None
    return subscription if isinstance(subscription, str) else subscription.id


def portal_session_create(*, customer_id: str, return_url: str) -> str:
    with _calling("opening the billing portal"):
        session = client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    return session.url


# --- Subscriptions and invoices ---------------------------------------------------------


def subscription_retrieve(subscription_id: str) -> Subscription:
    with _calling("reading the subscription"):
        sub = client().v1.subscriptions.retrieve(subscription_id).to_dict()
    items = (sub.get("items") or {}).get("data") or []
    plans = {plan_for_lookup_key((item.get("price") or {}).get("lookup_key")) for item in items}
    plans.discard(None)
    # Since 2025 the period is on each item; older API versions put it on the subscription.
    starts = [item.get("current_period_start") for item in items]
    period_start = min((t for t in starts if t), default=sub.get("current_period_start"))
    ends = [item.get("current_period_end") for item in items]
    period_end = max((t for t in ends if t), default=sub.get("current_period_end"))
    customer = sub["customer"]
    return Subscription(
        id=sub["id"],
        customer_id=customer if isinstance(customer, str) else customer["id"],
        status=sub["status"],
        plan=plans.pop() if len(plans) == 1 else None,
        current_period_start=_when(period_start),
        current_period_end=_when(period_end),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
    )


def _invoice(found: Any) -> Invoice:
    return invoice_from_dict(found.to_dict())


def invoice_from_dict(raw: dict[str, Any]) -> Invoice:
    """An invoice from its JSON (an API answer, or an event's object)."""
    customer = raw.get("customer") or ""
    paid_at = (raw.get("status_transitions") or {}).get("paid_at")
    return Invoice(
        id=raw["id"],
        number=raw.get("number") or "",
        status=raw.get("status") or "",
        amount_due_cents=int(raw.get("amount_due") or 0),
        amount_paid_cents=int(raw.get("amount_paid") or 0),
        currency=raw.get("currency") or CURRENCY,
        created=_when(raw.get("created")) or datetime.now(tz=UTC),
        hosted_url=raw.get("hosted_invoice_url") or "",
        customer_id=customer if isinstance(customer, str) else str(customer.get("id", "")),
        paid_at=_when(paid_at),
        period_start=_when(raw.get("period_start")),
        period_end=_when(raw.get("period_end")),
    )


def invoices_list(customer_id: str, *, limit: int = 12) -> list[Invoice]:
    with _calling("listing invoices"):
        found = client().v1.invoices.list(params={"customer": customer_id, "limit": limit})
    return [_invoice(raw) for raw in found.data]


def invoice_preview(*, customer_id: str, subscription_id: str) -> Invoice:
    """The invoice Stripe would issue at the end of this period, usage so far included."""
    with _calling("estimating the next invoice"):
        raw = client().v1.invoices.create_preview(
            params={"customer": customer_id, "subscription": subscription_id}
        )
    return _invoice(raw)


# --- Webhooks ---------------------------------------------------------------------------


def webhook_event(payload: bytes, signature: str) -> tuple[str, str]:
    """The ``(id, type)`` of a genuine, fresh event; ``InvalidWebhook`` otherwise."""
    try:
        event = client().construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc)) from exc
    return event.id, event.type


def event_retrieve(event_id: str) -> Event:
    """The event as Stripe has it now: what is applied, never the body that was posted."""
    with _calling("reading the event"):
        event = client().v1.events.retrieve(event_id).to_dict()
    return Event(
        id=event["id"],
        type=event["type"],
        created=int(event["created"]),
        object=event["data"]["object"],
    )


# --- Meters -----------------------------------------------------------------------------


def meter_event_create(
    *, customer_id: str, tokens: int, identifier: str, timestamp: datetime
) -> None:
    """One meter event; a duplicate ``identifier`` (an earlier send that did arrive) is
    success, as Stripe deduplicates it."""
    params = {
        "event_name": METER_EVENT_NAME,
        "identifier": identifier,
        "timestamp": int(timestamp.timestamp()),
        "payload": {METER_CUSTOMER_KEY: customer_id, METER_VALUE_KEY: str(tokens)},
    }
    try:
        with _calling("sending usage"):
            client().v1.billing.meter_events.create(params=params)  # type: ignore[arg-type]
    except StripeRefused as exc:
        if "identifier" in exc.message and "already" in exc.message.lower():
            return
        raise


# --- The v2 meter event stream (BILLING_METER_V2) ---------------------------------------
#
# Process-wide state: _stream_session holds this process's meter event session (its
# token and when it expires, 15 minutes after it was made), so a drain pass does not
# open one per request. Per process because a session is a credential of this client;
# a stale one is simply replaced (Stripe answers TemporarySessionExpiredError). Tests
# reset it with reset_stream_session().

_stream_session: dict[str, Any] = {}


@dataclass(frozen=True)
class MeterEvent:
    customer_id: str
    tokens: int
    identifier: str
    timestamp: datetime


def reset_stream_session() -> None:
    _stream_session.clear()


def _stream_client() -> stripe.StripeClient:
    expires = _stream_session.get("expires_at")
    if expires is None or expires - 60 < datetime.now(tz=UTC).timestamp():
        with _calling("opening a meter event session"):
            session = client().v2.billing.meter_event_session.create()
        expires_at: Any = session.expires_at  # RFC 3339 text in the v2 API
        if not isinstance(expires_at, datetime):
            expires_at = datetime.fromisoformat(str(expires_at).replace("Z", "+00:00"))
        _stream_session["token"] = session.authentication_token
        _stream_session["expires_at"] = expires_at.timestamp()
    # Not cached like client(): the token changes every 15 minutes.
    return _build(_stream_session["token"], settings.STRIPE_API_BASE, settings.STRIPE_RETRIES)


def meter_events_stream(events: list[MeterEvent]) -> None:
    """Up to 100 meter events in one request of Stripe's v2 stream (for high volume: one
    call for many customers). Stripe validates them after answering; its meter error
    reports (webhooks) say what it refused. Identifiers deduplicate as in v1."""
    body = [
        {
            "event_name": METER_EVENT_NAME,
            "identifier": event.identifier,
            "timestamp": event.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "payload": {METER_CUSTOMER_KEY: event.customer_id, METER_VALUE_KEY: str(event.tokens)},
        }
        for event in events
    ]
    try:
        with _calling("sending usage"):
            _stream_client().v2.billing.meter_event_stream.create(
                params={"events": body}  # type: ignore[typeddict-item]  # built above
            )
    except StripeRefused:
        reset_stream_session()  # an expired session: the next pass opens a new one
        raise


def meter_id() -> str:
    """The id of the ``ai_tokens`` meter (``stripe_sync`` creates it)."""
    with _calling("finding the meter"):
        meters = client().v1.billing.meters.list(params={"limit": 100})
    for meter in meters.data:
        if meter.event_name == METER_EVENT_NAME:
            return meter.id
    raise StripeRefused(
        f"No meter for {METER_EVENT_NAME!r} in Stripe: run `python manage.py stripe_sync`.",
        code="catalogue_missing",
    )


def meter_summaries(*, customer_id: str, start: datetime, end: datetime) -> list[MeterSummary]:
    """Stripe's hourly totals of the customer's tokens in ``[start, end)``."""
    with _calling("reading usage summaries"):
        found = client().v1.billing.meters.event_summaries.list(
            meter_id(),
            params={
                "customer": customer_id,
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
                "value_grouping_window": "hour",
                "limit": 100,
            },
        )
        rows = list(found.auto_paging_iter())
    return [
        MeterSummary(
            start=_when(row.start_time) or start,
            end=_when(row.end_time) or end,
            tokens=int(row.aggregated_value),
        )
        for row in rows
    ]


# --- The catalogue (manage.py stripe_sync) ----------------------------------------------


def prices_by_lookup_key(lookup_keys: list[str]) -> dict[str, str]:
    """``{lookup key: price id}`` of the active prices with these keys."""
    with _calling("reading prices"):
        found = client().v1.prices.list(
            params={"lookup_keys": lookup_keys, "active": True, "limit": 100}
        )
    return {price.lookup_key: price.id for price in found.data if price.lookup_key}


def meter_ensure() -> tuple[str, bool]:
    """The ``ai_tokens`` meter's id, creating it if needed; and whether it was created."""
    try:
        return meter_id(), False
    except StripeRefused:
        pass
    with _calling("creating the meter"):
        meter = client().v1.billing.meters.create(
            params={
                "display_name": METER_DISPLAY_NAME,
                "event_name": METER_EVENT_NAME,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"type": "by_id", "event_payload_key": METER_CUSTOMER_KEY},
                "value_settings": {"event_payload_key": METER_VALUE_KEY},
            }
        )
    return meter.id, True


def product_ensure(plan: PlanPrice) -> bool:
    """The plan's product exists with its name; True when it was created or changed."""
    with _calling("reading the product"):
        try:
            product = client().v1.products.retrieve(plan.product_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
            product = None
    with _calling("saving the product"):
        if product is None:
            client().v1.products.create(
                params={"id": plan.product_id, "name": plan.name, "metadata": {"plan": plan.plan}}
            )
            return True
        if product.name != plan.name:
            client().v1.products.update(plan.product_id, params={"name": plan.name})
            return True
    return False


def _price_params(plan: PlanPrice, meter: str) -> dict[str, dict[str, Any]]:
    """What each of the plan's prices must be, by lookup key."""
    return {
        plan.flat_lookup_key: {
            "unit_amount": plan.monthly_cents,
            "recurring": {"interval": "month", "usage_type": "licensed"},
        },
        plan.tokens_lookup_key: {
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": plan.included_tokens, "unit_amount_decimal": "0"},
                {"up_to": "inf", "unit_amount_decimal": plan.cents_per_token},
            ],
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter},
        },
    }


def _matches(price: Any, wanted: Mapping[str, Any]) -> bool:
    recurring = price.get("recurring") or {}
    want_recurring = wanted["recurring"]
    if any(recurring.get(k) != v for k, v in want_recurring.items()):
        return False
    if "unit_amount" in wanted:
        return bool(price.get("unit_amount") == wanted["unit_amount"])
    tiers = price.get("tiers") or []
    if len(tiers) != len(wanted["tiers"]):
        return False
    for tier, want in zip(tiers, wanted["tiers"], strict=True):
        up_to = tier.get("up_to")
        if (up_to if up_to is not None else "inf") != want["up_to"]:
            return False
        if float(tier.get("unit_amount_decimal") or 0) != float(want["unit_amount_decimal"]):
            return False
    return True


def prices_ensure(plan: PlanPrice, meter: str) -> list[str]:
    """The plan's prices exist as the catalogue says; a changed price is created anew
    and takes over the lookup key (Stripe prices are immutable). The keys changed."""
    wanted = _price_params(plan, meter)
    with _calling("reading prices"):
        found = client().v1.prices.list(
            params={"lookup_keys": list(wanted), "active": True, "expand": ["data.tiers"]}
        )
    current = {price.lookup_key: price.to_dict() for price in found.data}
    changed = []
    for lookup_key, params in wanted.items():
        existing = current.get(lookup_key)
        if existing is not None and _matches(existing, params):
            continue
        with _calling(f"saving the price {lookup_key}"):
            client().v1.prices.create(
                params={
                    "product": plan.product_id,
                    "currency": CURRENCY,
                    "lookup_key": lookup_key,
                    "transfer_lookup_key": True,
                    "nickname": lookup_key,
                    **params,  # type: ignore[typeddict-item]  # built by _price_params
                }
            )
            if existing is not None:
                client().v1.prices.update(existing["id"], params={"active": False})
        changed.append(lookup_key)
    return changed
