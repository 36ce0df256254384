"""Which handler serves which of Stripe's operations, and which parameters it implements.

The method and path are the spec's (``spec/stripe-trimmed.json``), so the server validates
each request with the operation's schema; the route is the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.billing.local_stripe import catalogue, checkout, meters, subscriptions
from apps.billing.local_stripe.core import Call
from apps.billing.local_stripe.store import Json


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # as in Stripe's spec; also the route
    handler: Callable[[Call], Json]
    # Top-level parameters the handler implements (``expand`` always is). Anything else
    # the spec accepts is a 400 that says so, rather than silently ignored.
    implemented: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


LIST = ("limit", "starting_after", "ending_before")
CUSTOMER = ("email", "name", "metadata", "description", "phone", "preferred_locales")
PRODUCT = ("name", "active", "description", "metadata", "statement_descriptor", "unit_label")
PRICE = ("active", "metadata", "lookup_key", "transfer_lookup_key", "nickname")

OPERATIONS = (
    Operation("POST", "/v1/customers", catalogue.create_customer, CUSTOMER),
    Operation("GET", "/v1/customers/{customer}", catalogue.retrieve_customer),
    Operation("POST", "/v1/customers/{customer}", catalogue.update_customer, CUSTOMER),
    Operation("GET", "/v1/products", catalogue.list_products, ("active", "ids", *LIST)),
    Operation("POST", "/v1/products", catalogue.create_product, ("id", *PRODUCT)),
    Operation("GET", "/v1/products/{id}", catalogue.retrieve_product),
    Operation("POST", "/v1/products/{id}", catalogue.update_product, ("default_price", *PRODUCT)),
    Operation(
        "GET",
        "/v1/prices",
        catalogue.list_prices,
        ("active", "product", "lookup_keys", "type", "currency", *LIST),
    ),
    Operation(
        "POST",
        "/v1/prices",
        catalogue.create_price,
        (
            "product",
            "currency",
            "unit_amount",
            "unit_amount_decimal",
            "recurring",
            "billing_scheme",
            "tiers",
            "tiers_mode",
            "tax_behavior",
            *PRICE,
        ),
    ),
    Operation("GET", "/v1/prices/{price}", catalogue.retrieve_price),
    Operation("POST", "/v1/prices/{price}", catalogue.update_price, PRICE),
    Operation("GET", "/v1/billing/meters", meters.list_meters, ("status", *LIST)),
    Operation(
        "POST",
        "/v1/billing/meters",
        meters.create_meter,
        (
            "display_name",
            "event_name",
            "default_aggregation",
            "customer_mapping",
            "value_settings",
            "event_time_window",
        ),
    ),
    Operation("GET", "/v1/billing/meters/{id}", meters.retrieve_meter),
    Operation(
        "GET",
        "/v1/billing/meters/{id}/event_summaries",
        meters.event_summaries,
        ("customer", "start_time", "end_time", "value_grouping_window", *LIST),
    ),
    Operation(
        "POST",
        "/v1/billing/meter_events",
        meters.create_meter_event,
        ("event_name", "payload", "identifier", "timestamp"),
    ),
    Operation(
        "POST",
        "/v1/checkout/sessions",
        checkout.create_session,
        (
            "mode",
            "customer",
            "customer_email",
            "line_items",
            "success_url",
            "cancel_url",
            "client_reference_id",
            "metadata",
            "subscription_data",
            # Cards are all the hosted page takes, in English; these change nothing.
            "payment_method_types",
            "locale",
        ),
    ),
    Operation("GET", "/v1/checkout/sessions/{session}", checkout.retrieve_session),
    Operation(
        "POST",
        "/v1/billing_portal/sessions",
        checkout.create_portal_session,
        ("customer", "return_url"),
    ),
    Operation(
        "GET",
        "/v1/subscriptions",
        subscriptions.list_subscriptions,
        ("customer", "status", "price", *LIST),
    ),
    Operation(
        "GET", "/v1/subscriptions/{subscription_exposed_id}", subscriptions.retrieve_subscription
    ),
    Operation(
        "POST",
        "/v1/subscriptions/{subscription_exposed_id}",
        subscriptions.update_subscription,
        ("cancel_at_period_end", "cancellation_details", "items", "metadata", "proration_behavior"),
    ),
    Operation(
        "DELETE",
        "/v1/subscriptions/{subscription_exposed_id}",
        subscriptions.cancel_subscription,
        ("invoice_now", "prorate", "cancellation_details"),
    ),
    Operation(
        "GET",
        "/v1/invoices",
        subscriptions.list_invoices,
        ("customer", "subscription", "status", *LIST),
    ),
    Operation(
        "POST",
        "/v1/invoices/create_preview",
        subscriptions.preview_invoice,
        ("customer", "subscription"),
    ),
    Operation("GET", "/v1/invoices/{invoice}", subscriptions.retrieve_invoice),
    Operation(
        "GET",
        "/v1/events",
        subscriptions.list_events,
        ("type", "types", "created", "delivery_success", *LIST),
    ),
    Operation("GET", "/v1/events/{id}", subscriptions.retrieve_event),
)
