"""A staff user opens the operator console in Chromium: three organisations with revenue
and cost, one flagged, the cost chart drawn, the what-if answered; a tenant owner gets
a 404. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser

from apps.accounts.models import User
from apps.billing.models import InvoiceRecord
from apps.core.db import tenant_context
from apps.finops import rollups
from apps.gateway.models import UsageRecord
from apps.tenants.models import Membership, Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.e2e.conftest import chromium
from tests.finops.conftest import record

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass
class Console:
    staff_cookie: str
    owner_cookie: str
    flagged: str


def _organisation(name: str, plan: str, revenue_cents: int, costs: list[str]) -> Tenant:
    owner = make_user(f"op-{uuid.uuid4().hex[:10]}@example.com")
    tenant = tenant_create(owner=owner, name=name)
    now = timezone.now()
    with tenant_context(tenant.id):
        Tenant.objects.filter(id=tenant.id).update(plan=plan)
        if revenue_cents:
            InvoiceRecord.objects.create(
                tenant=tenant,
                stripe_invoice_id=f"in_{uuid.uuid4().hex[:14]}",
                status="paid",
                currency="usd",
                amount_due_cents=revenue_cents,
                amount_paid_cents=revenue_cents,
                paid_at=now,
            )
    for n, cost in enumerate(costs):
        for feature in ("chat", "rag", "batch_summary")[: 1 + n % 3]:
            row = record(tenant.id, feature=feature, user_id=owner.pk, cost_usd=Decimal(cost))
            with tenant_context(tenant.id):
                when = max(now - timedelta(days=n), now.replace(day=1, hour=0, minute=5))
                UsageRecord.objects.filter(id=row).update(created_at=when)
    rollups.drain_tenant(tenant.id)
    return tenant


def _cookie(user_email: str, *, staff: bool) -> str:
    user = User.objects.get(email=user_email)
    user.is_staff = staff
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


@pytest.fixture
def console(live_db: None) -> Console:
    suffix = uuid.uuid4().hex[:6]
    _organisation(f"Northwind {suffix}", "pro", 4_900, ["1.20", "0.80", "2.10", "0.60"])
    flagged = _organisation(f"Globex {suffix}", "pro", 900, ["3.10", "2.40", "1.90"])
    free = _organisation(f"Initech {suffix}", "free", 0, ["0.40", "0.30"])
    staff = make_user(f"staff-{suffix}@example.com")
    with tenant_context(free.id):
        owner_email = Membership.objects.select_related("user").get(tenant=free).user.email
    console = Console(
        staff_cookie=_cookie(staff.email, staff=True),
        owner_cookie=_cookie(owner_email, staff=False),
        flagged=flagged.slug,
    )
    connections.close_all()
    return console


def test_staff_see_every_organisation_and_owners_get_404(
    console: Console, server: str, screenshots: Path
) -> None:
    # Seeded through the ORM first: Playwright's running loop would refuse it.
    with chromium() as browser:
        _check(browser, console, server, screenshots)


def _check(browser: Browser, console: Console, server: str, screenshots: Path) -> None:
    for label, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": console.staff_cookie, "url": server}]
        )
        page = context.new_page()
        response = page.goto(f"{server}/operator/?growth=50")
        assert response is not None
        assert response.status == 200
        flagged = page.locator(f'tr[data-tenant="{console.flagged}"]')
        assert flagged.get_attribute("data-flagged") is not None
        assert "Margin below" in flagged.inner_text()
        bars = page.locator("svg.op-bars rect")
        assert bars.count() == 30
        tallest = max(float(bars.nth(n).get_attribute("height") or 0) for n in range(30))
        assert tallest == 100.0
        assert "daily active users" in page.locator("[data-projection]").inner_text()
        page.screenshot(path=screenshots / f"operator-console-{label}.png", full_page=True)
        context.close()
    owner = browser.new_context()
    owner.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": console.owner_cookie, "url": server}]
    )
    refused = owner.new_page().goto(f"{server}/operator/")
    assert refused is not None
    assert refused.status == 404
    owner.close()
