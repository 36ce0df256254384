"""The local Stripe server, tested as the app uses it: a real process, the official SDK.

One server for the module (conftest.py; webhooks to a receiver in this process), reset
before each test; the restart test starts its own. Calls go through ``stripe.StripeClient``
with the SDK's retries off, so each test sees exactly what the server answered. No
database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from stripe.params import PriceCreateParams
from stripe.params.billing import MeterEventCreateParams
from stripe.params.v2.billing import MeterEventStreamCreateParamsEvent

from apps.billing.local_stripe import billing
from tests.billing.local_stripe.harness import (
    HOUR_S,
    SECRET,
    TIERS,
    Receiver,
    advance,
    local_stripe,
    make_catalogue,
    make_customer,
    pay,
    record,
    server_now,
    start_checkout,
    subscribe,
)
from tests.gateway.test_boundaries import imported_modules
from tests.servers import free_port, wait_until_healthy

# -- catalogue ------------------------------------------------------------------------------


def test_catalogue_is_found_by_lookup_key_which_moves_only_when_asked(
    client: stripe.StripeClient,
) -> None:
    catalogue = make_catalogue(client)
    found = client.v1.prices.list(params={"lookup_keys": ["pro_monthly", "pro_usage"]})
    assert {price.id for price in found.data} == {catalogue.flat.id, catalogue.usage.id}
    assert client.v1.products.retrieve("starter_pro").name == "Pro"
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.products.create(params={"id": "starter_pro", "name": "Pro again"})
    assert taken.value.code == "resource_already_exists"

    new_amount: PriceCreateParams = {
        "product": "starter_pro",
        "currency": "usd",
        "unit_amount": 3900,
        "recurring": {"interval": "month"},
        "lookup_key": "pro_monthly",
    }
    with pytest.raises(stripe.InvalidRequestError) as in_use:
        client.v1.prices.create(params=new_amount)
    assert in_use.value.param == "lookup_key"
    moved = client.v1.prices.create(params={**new_amount, "transfer_lookup_key": True})
    found = client.v1.prices.list(params={"lookup_keys": ["pro_monthly"]})
    assert [price.id for price in found.data] == [moved.id]
    assert client.v1.prices.retrieve(catalogue.flat.id).lookup_key is None

    client.v1.prices.update(catalogue.flat.id, params={"active": False})
    active = client.v1.prices.list(params={"product": "starter_pro", "active": True})
    assert [price.id for price in active.data] == [moved.id]

    # As on Stripe, tiers come only when expanded.
    assert "tiers" not in catalogue.usage
    expanded = client.v1.prices.retrieve(catalogue.usage.id, params={"expand": ["tiers"]})
    assert expanded.tiers is not None
    assert [tier.up_to for tier in expanded.tiers] == [1000, 5000, None]
    assert expanded.tiers[1].flat_amount == 100


def test_parameters_are_checked_against_stripes_spec(client: stripe.StripeClient) -> None:
    # The unknown and missing parameters below are the point, so the SDK's types refuse them.
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"emial": "a@acme.test"})  # type: ignore[arg-type]
    assert unknown.value.http_status == 400
    assert (unknown.value.param, unknown.value.code) == ("emial", "parameter_unknown")
    assert unknown.value.user_message == "Received unknown parameter: emial"

    price: PriceCreateParams = {"product": "starter_pro", "currency": "usd", "unit_amount": 100}
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.prices.create(params={**price, "recurring": {"interval": "month", "every": 2}})  # type: ignore[typeddict-unknown-key]
    assert nested.value.param == "recurring[every]"
    with pytest.raises(stripe.InvalidRequestError) as enum:
        client.v1.prices.create(params={**price, "recurring": {"interval": "fortnight"}})
    assert enum.value.param == "recurring[interval]"
    assert "day, month, week, or year" in (enum.value.user_message or "")
    with pytest.raises(stripe.InvalidRequestError) as required:
        client.v1.products.create(params={})  # type: ignore[typeddict-item]
    assert required.value.user_message == "Missing required param: name."
    # Valid for Stripe, not modelled here: refused, not silently ignored.
    with pytest.raises(stripe.InvalidRequestError) as unimplemented:
        client.v1.customers.create(params={"address": {"city": "Paris"}})
    assert unimplemented.value.param == "address"
    assert "not implemented by the local Stripe server" in (unimplemented.value.user_message or "")


def test_the_api_wants_a_test_secret_key(server: str) -> None:
    anonymous = httpx.post(f"{server}/v1/customers")
    assert anonymous.status_code == 401
    assert "You did not provide an API key" in anonymous.json()["error"]["message"]
    live = stripe.StripeClient("sk_live_123456789", base_addresses={"api": server})
    with pytest.raises(stripe.AuthenticationError, match=r"sk_live_\*+6789"):
        live.v1.customers.create()


def test_idempotency_key_replays_the_first_answer(client: stripe.StripeClient) -> None:
    first = client.v1.customers.create(
        params={"email": "a@acme.test"}, options={"idempotency_key": "signup-1"}
    )
    again = client.v1.customers.create(
        params={"email": "a@acme.test"}, options={"idempotency_key": "signup-1"}
    )
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(
            params={"email": "b@acme.test"}, options={"idempotency_key": "signup-1"}
        )


# -- meters ---------------------------------------------------------------------------------


def test_meter_events_are_deduplicated_and_summed_by_hour(
    client: stripe.StripeClient, server: str
) -> None:
    catalogue = make_catalogue(client)
    customer = make_customer(client).id
    hour = server_now(server) // HOUR_S * HOUR_S
    record(client, customer, 5, "row-1", timestamp=hour - 2 * HOUR_S + 60)
    record(client, customer, 7, "row-2", timestamp=hour - HOUR_S + 60)
    record(client, customer, 3, "row-3", timestamp=hour - HOUR_S + 120)

    # Stripe refuses an identifier it has seen: the resend changes nothing.
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        record(client, customer, 100, "row-2", timestamp=hour - HOUR_S + 60)
    assert duplicate.value.user_message == "An event already exists with identifier row-2."
    assert duplicate.value.headers is not None
    assert duplicate.value.headers["Stripe-Should-Retry"] == "false"
    # A retry with the same Idempotency-Key is the same request: replayed, counted once.
    for _ in range(2):
        kept = client.v1.billing.meter_events.create(
            params={
                "event_name": "billable_tokens",
                "payload": {"stripe_customer_id": customer, "value": "1"},
                "identifier": "row-4",
                "timestamp": hour - HOUR_S + 180,
            },
            options={"idempotency_key": "send-row-4"},
        )
        assert kept.identifier == "row-4"

    summaries = client.v1.billing.meters.event_summaries.list(
        catalogue.meter.id,
        params={
            "customer": customer,
            "start_time": hour - 2 * HOUR_S,
            "end_time": hour,
            "value_grouping_window": "hour",
        },
    )
    by_hour = {s.start_time: (s.end_time, s.aggregated_value) for s in summaries.data}
    assert by_hour == {
        hour - 2 * HOUR_S: (hour - HOUR_S, 5.0),
        hour - HOUR_S: (hour, 11.0),
    }
    whole = client.v1.billing.meters.event_summaries.list(
        catalogue.meter.id,
        params={"customer": customer, "start_time": hour - 2 * HOUR_S, "end_time": hour},
    )
    assert [s.aggregated_value for s in whole.data] == [16.0]
    with pytest.raises(stripe.InvalidRequestError) as misaligned:
        client.v1.billing.meters.event_summaries.list(
            catalogue.meter.id,
            params={
                "customer": customer,
                "start_time": hour - HOUR_S + 60,
                "end_time": hour,
                "value_grouping_window": "hour",
            },
        )
    assert misaligned.value.param == "start_time"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"event_name": "no_such_meter"}, "event_name"),
        (
            {"payload": {"stripe_customer_id": "cus_nobody", "value": "1"}},
            "payload[stripe_customer_id]",
        ),
        ({"value": "1.5"}, "payload[value]"),
        ({"timestamp_offset": -36 * 24 * HOUR_S}, "timestamp"),
        ({"timestamp_offset": 10 * 60}, "timestamp"),
    ],
)
def test_meter_events_stripe_would_reject_are_400s(
    client: stripe.StripeClient, server: str, change: dict[str, Any], param: str
) -> None:
    make_catalogue(client)
    customer = make_customer(client).id
    params: MeterEventCreateParams = {
        "event_name": change.get("event_name", "billable_tokens"),
        "payload": change.get(
            "payload", {"stripe_customer_id": customer, "value": change.get("value", "1")}
        ),
        "timestamp": server_now(server) + change.get("timestamp_offset", 0),
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing.meter_events.create(params=params)
    assert (refused.value.http_status, refused.value.param) == (400, param)


def test_the_v2_meter_event_stream(client: stripe.StripeClient, server: str) -> None:
    catalogue = make_catalogue(client)
    customer = make_customer(client).id
    session = client.v2.billing.meter_event_session.create()
    stream = stripe.StripeClient(
        session.authentication_token,
        base_addresses={"api": server, "meter_events": server},
        max_network_retries=0,
    )
    hour = server_now(server) // HOUR_S * HOUR_S
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hour - HOUR_S + 30))

    def event(
        identifier: str, value: int, who: str = customer
    ) -> MeterEventStreamCreateParamsEvent:
        payload = {"stripe_customer_id": who, "value": str(value)}
        return {
            "event_name": "billable_tokens",
            "identifier": identifier,
            "payload": payload,
            "timestamp": at,
        }

    stream.v2.billing.meter_event_stream.create(
        params={
            "events": [
                event("s-1", 4),
                event("s-2", 6),
                event("s-1", 100),
                event("s-3", 9, "cus_nobody"),
            ]
        }
    )
    summaries = client.v1.billing.meters.event_summaries.list(
        catalogue.meter.id,
        params={"customer": customer, "start_time": hour - HOUR_S, "end_time": hour},
    )
    assert [s.aggregated_value for s in summaries.data] == [10.0]
    # The stream validates events after answering: refused ones are listed, not raised.
    errors = httpx.get(f"{server}/_local/meter_errors").json()["data"]
    assert [(e["identifier"], e["index"]) for e in errors] == [("s-1", 2), ("s-3", 3)]
    assert "already exists" in errors[0]["message"]

    with pytest.raises(stripe.AuthenticationError):
        stream.v1.customers.create()  # a session token is not an API key
    with pytest.raises(stripe.InvalidRequestError):
        stream.v2.billing.meter_event_stream.create(params={"events": []})
    advance(server, 16 * 60)
    with pytest.raises(stripe.TemporarySessionExpiredError):
        stream.v2.billing.meter_event_stream.create(params={"events": [event("s-4", 1)]})


# -- checkout, webhooks, portal -------------------------------------------------------------


def period_of(sub: stripe.Subscription) -> tuple[int, int]:
    """The subscription's current period (start, end). Stripe moved it to the items in API
    version 2025-03-31.basil, so the SDK's types lack it here; the local server keeps it on
    the subscription as well, where the app falls back to it."""
    return sub["current_period_start"], sub["current_period_end"]


def previous(event: stripe.Event) -> stripe.StripeObject:
    """The attributes an update event changed, as they were."""
    assert event.data.previous_attributes is not None
    return event.data.previous_attributes


def price_of(line: stripe.InvoiceLineItem) -> str | stripe.Price:
    """The price an invoice line bills (optional in the SDK's types, for other pricings)."""
    assert line.pricing is not None
    assert line.pricing.price_details is not None
    return line.pricing.price_details.price


def test_checkout_creates_the_subscription_and_paid_invoice_and_signs_webhooks(
    client: stripe.StripeClient, server: str, receiver: Receiver
) -> None:
    catalogue = make_catalogue(client)
    customer = make_customer(client)
    session = start_checkout(client, receiver, catalogue, customer.id)
    assert session.url is not None
    page = httpx.get(session.url)
    assert page.status_code == 200
    assert "4242 4242 4242 4242" in page.text
    assert "Test mode" in page.text
    assert "$29.00" in page.text

    declined = pay(session, card="4000 0000 0000 0002")
    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    paid = pay(session)
    assert paid.status_code == 303
    assert paid.headers["location"] == f"{receiver.url}/billing/done?session={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status, done.customer) == ("complete", "paid", customer.id)
    sub = done.subscription
    assert isinstance(sub, stripe.Subscription)  # expanded
    assert (sub.status, sub.customer, sub.metadata.to_dict()) == (
        "active",
        customer.id,
        {"tenant": "acme"},
    )
    items = sub["items"].data
    assert [(item.price.id, item.quantity) for item in items] == [
        (catalogue.flat.id, 1),
        (catalogue.usage.id, None),
    ]
    period = period_of(sub)
    assert {(item.current_period_start, item.current_period_end) for item in items} == {period}
    assert 28 * 24 * HOUR_S <= period[1] - period[0] <= 31 * 24 * HOUR_S

    assert isinstance(sub.latest_invoice, str)
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.total, invoice.amount_paid) == ("paid", 2900, 2900)
    assert invoice.billing_reason == "subscription_create"
    assert invoice.parent is not None
    assert invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == sub.id
    assert [(price_of(line), line.amount) for line in invoice.lines.data] == [
        (catalogue.flat.id, 2900)
    ]
    assert invoice.hosted_invoice_url is not None
    assert httpx.get(invoice.hosted_invoice_url).status_code == 200

    events = receiver.events(client, 3)
    assert [e.type for e in events] == [
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
    ]
    assert events[2].data.object.subscription == sub.id
    assert events[2].data.object.client_reference_id == "acme"
    assert all(e.api_version and e.livemode is False for e in events)
    listed = client.v1.events.list(params={"limit": 3})
    assert [e.id for e in listed.data] == [e.id for e in reversed(events)]

    body, signature = receiver.wait(1)[0]
    with pytest.raises(stripe.SignatureVerificationError):
        client.construct_event(body, signature, "whsec_some_other_secret")
    with pytest.raises(stripe.SignatureVerificationError):
        client.construct_event(body.replace(b"false", b"true", 1), signature, SECRET)
    # A paid session cannot be paid again.
    pay(session)
    assert len(client.v1.subscriptions.list(params={"customer": customer.id}).data) == 1


def test_webhooks_are_retried_and_can_be_resent(
    client: stripe.StripeClient, server: str, receiver: Receiver
) -> None:
    receiver.fail_next = 2  # the first two attempts get a 500
    catalogue = make_catalogue(client)
    customer = make_customer(client)
    pay(start_checkout(client, receiver, catalogue, customer.id))
    events = receiver.events(client, 3)
    assert sorted(e.type for e in events) == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    delivered = client.v1.events.retrieve(events[0].id)
    assert delivered.pending_webhooks == 0

    resent = httpx.post(f"{server}/_local/events/{events[0].id}/resend")
    assert resent.status_code == 200
    again = receiver.events(client, 4)[3]
    assert again.id == events[0].id  # the same event, delivered twice: the app must dedupe


def test_portal_cancels_resumes_fails_and_pays(
    client: stripe.StripeClient, server: str, receiver: Receiver
) -> None:
    _, customer, sub = subscribe(client, receiver)
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": f"{receiver.url}/billing/"}
    )
    page = httpx.get(portal.url).text
    assert "Cancel plan" in page
    assert f"{receiver.url}/billing/" in page
    assert "Renews on" in page

    def press(action: str) -> None:
        pressed = httpx.post(f"{server}/portal/{portal.id}/subscriptions/{sub.id}/{action}")
        assert (pressed.status_code, pressed.headers["location"]) == (303, f"/portal/{portal.id}")

    press("cancel")
    canceling = client.v1.subscriptions.retrieve(sub.id)
    assert canceling.cancel_at_period_end is True
    assert canceling.cancel_at == period_of(canceling)[1]
    (updated,) = receiver.events(client, 1)
    assert updated.type == "customer.subscription.updated"
    assert previous(updated)["cancel_at_period_end"] is False
    assert "Cancels" in httpx.get(portal.url).text

    press("resume")
    assert client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False
    assert previous(receiver.events(client, 2)[1])["cancel_at_period_end"] is True

    press("fail")
    failing = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert failing.status == "past_due"
    invoice = failing.latest_invoice
    assert isinstance(invoice, stripe.Invoice)  # expanded
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    types = [e.type for e in receiver.events(client, 4)[2:]]
    assert types == ["customer.subscription.updated", "invoice.payment_failed"]

    press("pay")
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    paid, reactivated = receiver.events(client, 6)[4:]
    assert (paid.type, paid.data.object.id) == ("invoice.paid", invoice.id)
    assert previous(reactivated)["status"] == "past_due"


# -- time: previews, renewals, endings ------------------------------------------------------


def test_clock_renews_with_graduated_usage_and_ends_at_period_end(
    client: stripe.StripeClient, server: str, receiver: Receiver
) -> None:
    _, customer, sub = subscribe(client, receiver)
    record(client, customer.id, 2500, "usage-1")
    record(client, customer.id, 3500, "usage-2")
    # 6,000 units: 1,000 free; 4,000 at 0.5 cent + $1.00; 1,000 at 0.25 cent = $23.50.
    preview = client.v1.invoices.create_preview(params={"customer": customer.id})
    assert [(line.quantity, line.amount) for line in preview.lines.data] == [
        (1, 2900),
        (6000, 2350),
    ]
    assert preview.total == 5250

    first = period_of(sub)
    advance(server, first[1] - server_now(server) + 60)
    renewed = client.v1.subscriptions.retrieve(sub.id)
    second = period_of(renewed)
    assert second[0] == first[1]
    assert renewed.latest_invoice != sub.latest_invoice
    assert isinstance(renewed.latest_invoice, str)
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    assert (invoice.billing_reason, invoice.status, invoice.total) == (
        "subscription_cycle",
        "paid",
        5250,
    )
    flat, usage = invoice.lines.data
    assert (flat.period.start, flat.period.end) == second
    assert (usage.quantity, usage.amount) == (6000, 2350)
    assert (usage.period.start, usage.period.end) == first
    updated, paid = receiver.events(client, 2)
    assert (updated.type, paid.type) == ("customer.subscription.updated", "invoice.paid")
    assert previous(updated)["current_period_start"] == first[0]

    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    record(client, customer.id, 1200, "usage-3")  # 200 units in tier 2: 100 + $1.00
    advance(server, second[1] - server_now(server) + 60)
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", second[1])
    assert isinstance(ended.latest_invoice, str)
    final = client.v1.invoices.retrieve(ended.latest_invoice)
    assert [(line.quantity, line.amount) for line in final.lines.data] == [(1200, 200)]
    assert receiver.events(client, 5)[-1].type == "customer.subscription.deleted"
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    with pytest.raises(stripe.InvalidRequestError) as none:
        client.v1.invoices.create_preview(params={"customer": customer.id})
    assert none.value.code == "invoice_upcoming_none"


def test_plan_change_and_immediate_cancel_over_the_api(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    catalogue, customer, sub = subscribe(client, receiver)
    bigger = client.v1.prices.create(
        params={
            "product": "starter_pro",
            "currency": "usd",
            "unit_amount": 9900,
            "recurring": {"interval": "month"},
        }
    )
    flat_item, usage_item = sub["items"].data
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.update(
            sub.id,
            params={
                "items": [
                    {"id": flat_item.id, "price": bigger.id},
                    {"id": usage_item.id, "quantity": 2},
                ]
            },
        )
    assert refused.value.param == "items[1][quantity]"
    unchanged = client.v1.subscriptions.retrieve(sub.id)
    assert unchanged["items"].data[0].price.id == catalogue.flat.id  # nothing half-applied
    changed = client.v1.subscriptions.update(
        sub.id,
        params={"items": [{"id": flat_item.id, "price": bigger.id}], "proration_behavior": "none"},
    )
    assert [item.price.id for item in changed["items"].data] == [bigger.id, catalogue.usage.id]
    (updated,) = receiver.events(client, 1)
    assert previous(updated)["items"]["data"][0]["price"]["id"] == catalogue.flat.id

    record(client, customer.id, 1001, "usage-1")  # 1 unit in tier 2: 0.5 cent + $1.00 → 101
    canceled = client.v1.subscriptions.cancel(sub.id, params={"invoice_now": True})
    assert canceled.status == "canceled"
    assert isinstance(canceled.latest_invoice, str)
    final = client.v1.invoices.retrieve(canceled.latest_invoice)
    assert [(line.quantity, line.amount) for line in final.lines.data] == [(1001, 101)]
    assert receiver.events(client, 3)[-1].type == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub.id)


def test_events_are_listed_with_stripes_filters(
    client: stripe.StripeClient, server: str, receiver: Receiver
) -> None:
    subscribe(client, receiver)
    invoices = client.v1.events.list(params={"type": "invoice.*"})
    assert [e.type for e in invoices.data] == ["invoice.paid"]
    two = client.v1.events.list(params={"types": ["invoice.paid", "checkout.session.completed"]})
    assert len(two.data) == 2
    later = client.v1.events.list(params={"created": {"gte": server_now(server) + 60}})
    assert later.data == []
    page = client.v1.events.list(params={"limit": 2})
    assert page.has_more is True
    rest = client.v1.events.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert (len(rest.data), rest.has_more) == (1, False)


# -- faults and restarts --------------------------------------------------------------------


def fault(server: str, **body: Any) -> None:
    httpx.post(f"{server}/_local/faults", json=body).raise_for_status()


def test_faults_answer_429_and_5xx_then_the_api_recovers(
    client: stripe.StripeClient, server: str
) -> None:
    fault(server, status=429, count=1)
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.create()
    assert limited.value.http_status == 429
    assert limited.value.headers is not None
    assert limited.value.headers["Retry-After"] == "1"
    client.v1.customers.create()

    fault(server, status=500, count=2)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            client.v1.customers.create()
        assert failed.value.http_status == 500
    client.v1.customers.create()

    fault(server, down_seconds=1)
    with pytest.raises(stripe.APIError) as down:
        client.v1.customers.create()
    assert down.value.http_status == 503
    assert httpx.get(f"{server}/health").status_code == 200  # control routes stay up
    time.sleep(1.1)
    client.v1.customers.create()


def test_a_faulted_call_did_nothing_so_the_sdks_retry_counts_once(
    client: stripe.StripeClient, server: str
) -> None:
    catalogue = make_catalogue(client)
    customer = make_customer(client).id
    retrying = stripe.StripeClient(
        "sk_test_local", base_addresses={"api": server}, max_network_retries=2
    )
    fault(server, status=500, count=1)
    hour = server_now(server) // HOUR_S * HOUR_S
    record(retrying, customer, 42, "row-1", timestamp=hour)
    summary = client.v1.billing.meters.event_summaries.list(
        catalogue.meter.id,
        params={"customer": customer, "start_time": hour, "end_time": hour + HOUR_S},
    )
    assert [s.aggregated_value for s in summary.data] == [42.0]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = tmp_path / "state.json"
    client = stripe.StripeClient(
        "sk_test_local", base_addresses={"api": base}, max_network_retries=0
    )
    with local_stripe(port, tmp_path / "first.log", state) as proc:
        wait_until_healthy(proc, f"{base}/health", tmp_path / "first.log")
        make_catalogue(client)
        customer = make_customer(client).id
        record(client, customer, 7, "row-1")
        advance(base, HOUR_S)
    assert state.exists()
    with local_stripe(port, tmp_path / "second.log", state) as proc:
        wait_until_healthy(proc, f"{base}/health", tmp_path / "second.log")
        assert httpx.get(f"{base}/health").json()["clock_offset"] == HOUR_S
        metadata = client.v1.customers.retrieve(customer).metadata
        assert metadata is not None
        assert metadata["tenant"] == "acme"
        found = client.v1.prices.list(params={"lookup_keys": ["pro_monthly"]})
        assert len(found.data) == 1
        with pytest.raises(stripe.InvalidRequestError, match="already exists"):
            record(client, customer, 7, "row-1")


# -- amounts (pure) -------------------------------------------------------------------------


def _price(scheme: str, mode: str | None = None, unit: str | None = None) -> dict[str, Any]:
    tiers = [
        {
            "up_to": None if t["up_to"] == "inf" else t["up_to"],
            "unit_amount_decimal": str(t["unit_amount_decimal"]),  # as the server keeps it
            "flat_amount_decimal": str(t.get("flat_amount", 0)),
        }
        for t in TIERS
    ]
    return {
        "billing_scheme": scheme,
        "tiers_mode": mode,
        "tiers": tiers,
        "unit_amount_decimal": unit,
    }


@pytest.mark.parametrize(
    ("price", "quantity", "cents"),
    [
        (_price("per_unit", unit="2900"), 3, 8700),
        (_price("per_unit", unit="0.0002"), 2_500_000, 500),
        (_price("per_unit", unit="0.5"), 3, 2),  # 1.5 rounds half up
        (_price("tiered", "graduated"), 0, 0),  # no unit reaches a tier: no flat amount
        (_price("tiered", "graduated"), 1000, 0),
        (_price("tiered", "graduated"), 1001, 101),
        (_price("tiered", "graduated"), 6000, 2350),
        (_price("tiered", "volume"), 6000, 1500),  # every unit at the last tier's price
        (_price("tiered", "volume"), 2000, 1100),  # 2,000 at 0.5 cent + $1.00
    ],
)
def test_amounts(price: dict[str, Any], quantity: int, cents: int) -> None:
    assert billing.amount(price, quantity) == cents


# -- boundaries -----------------------------------------------------------------------------


def test_the_server_runs_without_django_and_the_app_does_not_import_it() -> None:
    probe = "import sys, apps.billing.local_stripe.server; print('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    assert out.stdout.split() == ["False"]
    importers = [
        path.relative_to(root).as_posix()
        for path in [*root.glob("apps/**/*.py"), *root.glob("config/**/*.py")]
        if "apps/billing/local_stripe" not in path.as_posix()
        and any(name.startswith("apps.billing.local_stripe") for name in imported_modules(path))
    ]
    assert importers == []
