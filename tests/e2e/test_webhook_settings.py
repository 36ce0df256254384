"""An owner's alert webhook page in Chromium: the endpoint, the signing secret with its
copy button, a delivered and a failed alert in the log. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from apps.core.db import tenant_context
from apps.tenants import webhooks
from apps.tenants.models import DeliveryStatus, WebhookDelivery
from apps.tenants.services import tenant_create
from tests.conftest import make_user, owner_of
from tests.e2e.conftest import chromium

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass
class Seeded:
    slug: str
    cookie: str
    secret: str


@pytest.fixture
def seeded(live_db: None) -> Seeded:
    owner = make_user(f"hooks-{uuid.uuid4().hex[:10]}@example.com")
    tenant = tenant_create(owner=owner, name="Hooli")
    with tenant_context(tenant.id):
        webhooks.webhook_update(
            tenant=tenant,
            actor=owner_of(tenant.id),
            url="https://hooks.hooli.example/starter/alerts",
            enabled=True,
        )
        endpoint = webhooks.endpoint_for(tenant)
        for key, status, code, error in (
            ("budget:2026-12:50", DeliveryStatus.DELIVERED, 200, ""),
            ("budget:2026-12:80", DeliveryStatus.FAILED, 410, "The receiver answered 410."),
        ):
            WebhookDelivery.objects.create(
                tenant=tenant,
                key=key,
                event_type="budget.threshold_reached",
                url=endpoint.url,
                payload={},
                status=status,
                attempts=1,
                response_status=code,
                last_error=error,
            )
    client = Client()
    client.force_login(owner)
    connections.close_all()
    return Seeded(
        slug=tenant.slug,
        cookie=str(client.cookies[settings.SESSION_COOKIE_NAME].value),
        secret=endpoint.secret,
    )


def test_the_webhook_page_shows_the_secret_and_the_delivery_log(
    seeded: Seeded, server: str, screenshots: Path
) -> None:
    with chromium() as browser:
        for label, (width, height) in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": seeded.cookie, "url": server}]
            )
            page = context.new_page()
            response = page.goto(f"{server}/t/{seeded.slug}/settings/webhook/")
            assert response is not None
            assert response.status == 200
            assert page.input_value("#webhook-secret") == seeded.secret
            log = page.locator("tr[data-delivery]")
            assert log.count() == 2
            assert "Failed" in page.locator('tr[data-delivery="budget:2026-12:80"]').inner_text()
            page.screenshot(path=screenshots / f"webhook-settings-{label}.png", full_page=True)
            context.close()
