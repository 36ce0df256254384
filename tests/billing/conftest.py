"""Billing against the local Stripe server over real HTTP, through the official SDK.

``stripe_server`` starts ``python -m apps.billing.local_stripe`` on a free port for the
module; ``stripe`` points this process's settings at it, empties its state and syncs the
catalogue, as ``make run`` does; ``app_server`` is a uvicorn of the app that the local
server delivers its signed webhooks to (tasks run inline there).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from pytest_django import Settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.servers import asgi_server
from tests.servers import stripe_server as local_stripe_server

WEBHOOK_PATH = "/billing/webhooks/stripe/"
GOOD_CARD = "4242 4242 4242 4242"


@pytest.fixture(scope="module")
def stripe_server(artifacts_dir: Path) -> Iterator[str]:
    with local_stripe_server(artifacts_dir / "billing" / "local-stripe.log") as base:
        yield base


@pytest.fixture
def stripe(stripe_server: str, settings: Settings) -> Iterator[str]:
    """This process's Stripe is the local server, emptied, with the catalogue synced."""
    settings.STRIPE_API_BASE = stripe_server
    settings.STRIPE_RETRIES = 0  # a test sees each fault; the code's own retries remain
    control(stripe_server, "reset")
    call_command("stripe_sync", stdout=open("/dev/null", "w"))  # noqa: SIM115
    yield stripe_server
    control(stripe_server, "reset")


@pytest.fixture(scope="module")
def app_server(stripe_server: str, artifacts_dir: Path, django_db_setup: None) -> Iterator[str]:
    with asgi_server(artifacts_dir / "billing", STRIPE_API_BASE=stripe_server) as base:
        yield base


def control(server: str, route: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.post(f"{server}/_local/{route}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def deliver_webhooks_to(server: str, app: str | None) -> None:
    control(server, "webhook", {"url": f"{app}{WEBHOOK_PATH}" if app else None})


def owner_and_tenant(name: str = "Billing") -> tuple[User, Tenant]:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"billing-{suffix}@example.com")
    return owner, tenant_create(owner=owner, name=f"{name} {suffix}")


def plan_of(tenant: Tenant) -> str:
    with tenant_context(tenant.id):
        return Tenant.objects.get(id=tenant.id).plan


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
