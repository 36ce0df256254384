"""The local Stripe server as the billing tests drive it: the process, a webhook receiver,
and the steps the app takes (a catalogue, a customer, Checkout) through the official SDK."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import stripe
from stripe.params import PriceCreateParamsTier
from stripe.params.billing import MeterEventCreateParams

from tests.servers import local_stripe as local_stripe

SECRET = "whsec_local_dev_secret"  # the documented default
HOUR_S = 3600


class Receiver:
    """A webhook endpoint: keeps every POST; answers 500 to the next ``fail_next``."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []
        self.fail_next = 0
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    if not failing:
                        receiver.deliveries.append((body, self.headers["Stripe-Signature"]))
                    receiver._changed.notify_all()
                self.send_response(500 if failing else 200)
                self.end_headers()

            def do_GET(self) -> None:  # the success and cancel URLs
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def wait(self, count: int, timeout: float = 10) -> list[tuple[bytes, str]]:
        """The first ``count`` deliveries, once they have arrived."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert arrived, f"{len(self.deliveries)} of {count} webhooks arrived"
            return list(self.deliveries[:count])

    def events(self, client: stripe.StripeClient, count: int) -> list[stripe.Event]:
        """The deliveries as events, each signature verified as the app verifies it."""
        return [client.construct_event(body, sig, SECRET) for body, sig in self.wait(count)]

    def clear(self) -> None:
        with self._changed:
            self.deliveries.clear()
            self.fail_next = 0


def server_now(server: str) -> int:
    return int(httpx.get(f"{server}/health").json()["now"])


def advance(server: str, seconds: int) -> None:
    httpx.post(f"{server}/_local/clock/advance", json={"seconds": seconds}).raise_for_status()


# -- a catalogue and a subscription, as the app's stripe_sync and Upgrade make them ---------


# Graduated: 1,000 units free, then 0.5 cent each plus $1 to enter the tier, then 0.25 cent.
TIERS: list[PriceCreateParamsTier] = [
    {"up_to": 1000, "unit_amount_decimal": Decimal("0")},
    {"up_to": 5000, "unit_amount_decimal": Decimal("0.5"), "flat_amount": 100},
    {"up_to": "inf", "unit_amount_decimal": Decimal("0.25")},
]


@dataclass(frozen=True)
class Catalogue:
    meter: stripe.billing.Meter
    flat: stripe.Price
    usage: stripe.Price


def make_catalogue(client: stripe.StripeClient) -> Catalogue:
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "Billable tokens",
            "event_name": "billable_tokens",
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
    )
    client.v1.products.create(params={"id": "starter_pro", "name": "Pro"})
    client.v1.products.create(params={"id": "starter_pro_usage", "name": "Pro usage"})
    flat = client.v1.prices.create(
        params={
            "product": "starter_pro",
            "currency": "usd",
            "unit_amount": 2900,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    usage = client.v1.prices.create(
        params={
            "product": "starter_pro_usage",
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": TIERS,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "lookup_key": "pro_usage",
        }
    )
    return Catalogue(meter, flat, usage)


def make_customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create(
        params={"email": "owner@acme.test", "name": "Ada Owner", "metadata": {"tenant": "acme"}}
    )


def start_checkout(
    client: stripe.StripeClient, receiver: Receiver, catalogue: Catalogue, customer: str
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": [
                {"price": catalogue.flat.id, "quantity": 1},
                {"price": catalogue.usage.id},
            ],
            "success_url": f"{receiver.url}/billing/done?session={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{receiver.url}/billing/",
            "client_reference_id": "acme",
            "metadata": {"tenant": "acme"},
            "subscription_data": {"metadata": {"tenant": "acme"}},
        }
    )


def pay(session: stripe.checkout.Session, card: str = "4242 4242 4242 4242") -> httpx.Response:
    """Submit the hosted Checkout page's form, as the browser does."""
    form = {"email": "owner@acme.test", "name": "Ada Owner", "card": card, "expiry": "12 / 34"}
    assert session.url is not None  # a hosted session has one
    return httpx.post(session.url, data=form)


def subscribe(
    client: stripe.StripeClient, receiver: Receiver
) -> tuple[Catalogue, stripe.Customer, stripe.Subscription]:
    """A customer on the catalogue's plan, its three webhooks received and cleared."""
    catalogue = make_catalogue(client)
    customer = make_customer(client)
    session = start_checkout(client, receiver, catalogue, customer.id)
    assert pay(session).status_code == 303
    receiver.wait(3)
    receiver.clear()
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert isinstance(done.subscription, stripe.Subscription)  # expanded
    return catalogue, customer, done.subscription


def record(
    client: stripe.StripeClient,
    customer: str,
    value: int,
    identifier: str,
    timestamp: int | None = None,
) -> stripe.billing.MeterEvent:
    """A meter event of ``value`` tokens, at ``timestamp`` or (as Stripe defaults) now."""
    params: MeterEventCreateParams = {
        "event_name": "billable_tokens",
        "payload": {"stripe_customer_id": customer, "value": str(value)},
        "identifier": identifier,
    }
    if timestamp is not None:
        params["timestamp"] = timestamp
    return client.v1.billing.meter_events.create(params=params)
