"""The local Stripe server: the subset of Stripe's REST API the app uses, for dev and tests.

The official ``stripe`` SDK talks to it over real HTTP when no Stripe key is configured
(``StripeClient(api_key, base_addresses={"api": URL, "meter_events": URL})``). It runs as
its own process (``python -m apps.billing.local_stripe``) and must not import Django;
nothing in the web or worker processes imports this package. See docs/local-stripe.md.
"""
