"""Fixtures for the billing tests: one local Stripe server per module, reset before each
test, its webhooks posted to a receiver in this process."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import stripe

from tests.billing.local_stripe.harness import Receiver, local_stripe
from tests.servers import free_port, wait_until_healthy


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.httpd.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("local_stripe") / "server.log"
    with local_stripe(port, log, LOCAL_STRIPE_WEBHOOK_URL=f"{receiver.url}/webhooks") as proc:
        wait_until_healthy(proc, f"{url}/health", log)
        yield url


@pytest.fixture(autouse=True)
def _fresh(server: str, receiver: Receiver) -> None:
    httpx.post(f"{server}/_local/reset").raise_for_status()
    receiver.clear()


@pytest.fixture
def client(server: str) -> stripe.StripeClient:
    """As the app configures it, retries off so each test sees every answer."""
    return stripe.StripeClient(
        "sk_test_local",
        base_addresses={"api": server, "meter_events": server},
        max_network_retries=0,
    )
