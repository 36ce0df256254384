"""The Usage & cost page in Chromium: six weeks of usage rolled up, every chart drawn
(its canvas has painted pixels), no sideways scroll on a phone, no CSP error.
Screenshots at 1280 and 390 px, light and dark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright._impl._api_structures import SetCookieParam
from playwright.sync_api import Page

from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.finops import rollups
from apps.gateway.models import AISettings, CacheKind, CallStatus, UsageRecord
from apps.tenants.models import Role, Tenant
from apps.tenants.plans import PlanTier
from apps.tenants.services import tenant_create
from tests.conftest import add_member, make_user, owner_of
from tests.e2e.conftest import chromium
from tests.finops.conftest import FAST, SMART, record

pytestmark = pytest.mark.e2e

DAYS = 42
WEEKDAY = (1.0, 1.1, 1.15, 1.1, 1.0, 0.35, 0.25)
CANVASES = ("daily", "features", "models", "hours")


@dataclass(frozen=True)
class Seeded:
    slug: str
    session_cookie: str


@pytest.fixture
def seeded(live_db: None) -> Seeded:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"finops-owner-{suffix}@example.com")
    colleague = make_user(f"finops-analyst-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Northwind Analytics {suffix}")
    add_member(tenant, colleague, Role.MEMBER)
    with tenant_context(tenant.id):
        Tenant.objects.filter(id=tenant.id).update(plan=PlanTier.PRO)
        key, _ = api_key_create(
            tenant=tenant, actor=owner_of(tenant.id), name="Reporting", scopes=["read"]
        )
        settings_row, _ = AISettings.objects.get_or_create(tenant=tenant)
        settings_row.monthly_budget_usd = Decimal("6.00")
        settings_row.save(update_fields=["monthly_budget_usd"])
    now = datetime.now(UTC)
    for back in range(DAYS, -1, -1):
        when = now - timedelta(days=back)
        scale = (1 + (DAYS - back) / DAYS) * WEEKDAY[when.weekday()]
        ids = [
            # Tokens and costs at the local models' list prices (fast: $0.15/$0.60 per
            # million in/out, smart: $2.50/$10), so the savings are the real arithmetic.
            call(tenant.id, scale, user_id=owner.pk, tokens=(60_000, 15_000)),
            call(tenant.id, scale, user_id=colleague.pk, model=SMART, tokens=(12_000, 3_000)),
            call(tenant.id, scale, feature="api_chat", api_key_id=key.id, tokens=(20_000, 5_000)),
            call(tenant.id, scale, feature="batch_summary", batch=True, tokens=(90_000, 20_000)),
            record(
                tenant.id,
                user_id=owner.pk,
                cache=CacheKind.SEMANTIC,
                tokens_in=0,
                tokens_out=0,
                cost_usd=Decimal(0),
                saved_cost_usd=Decimal("0.0180"),
            ),
        ]
        if back % 9 == 0:
            ids.append(
                record(
                    tenant.id,
                    status=CallStatus.ERROR,
                    served_model="",
                    tokens_in=0,
                    tokens_out=0,
                    cost_usd=Decimal(0),
                )
            )
        with tenant_context(tenant.id):
            UsageRecord.objects.filter(id__in=ids).update(created_at=when)
    rollups.drain_tenant(tenant.id)
    client = Client()
    client.force_login(owner)
    return Seeded(tenant.slug, client.cookies[settings.SESSION_COOKIE_NAME].value)


PRICES = {FAST: (Decimal("0.15"), Decimal("0.60")), SMART: (Decimal("2.50"), Decimal("10.00"))}


def call(
    tenant_id: uuid.UUID,
    scale: float,
    *,
    tokens: tuple[int, int],
    model: str = FAST,
    batch: bool = False,
    **fields: Any,
) -> uuid.UUID:
    """A provider call of ``tokens`` (scaled), priced as the gateway prices it; a Batch
    API item at half price."""
    tokens_in, tokens_out = int(tokens[0] * scale), int(tokens[1] * scale)
    price_in, price_out = PRICES[model]
    cost = (price_in * tokens_in + price_out * tokens_out) / 10**6
    if batch:
        return record(
            tenant_id,
            requested_model=model,
            served_model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost / 2,
            **fields,
        )
    alias = "smart" if model == SMART else "fast"
    return record(
        tenant_id,
        requested_model=alias,
        served_model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        **fields,
    )


def painted(page: Page) -> dict[str, int]:
    """Painted (non-transparent) pixels of each chart's canvas."""
    counts: dict[str, int] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')].map(
            (c) => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
                return [c.dataset.chart, n];
            }))"""
    )
    return counts


def test_the_dashboard_draws_its_charts(seeded: Seeded, server: str, screenshots: Path) -> None:
    url = server + reverse("finops:usage", args=[seeded.slug])
    cookie: SetCookieParam = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": seeded.session_cookie,
        "url": server,
    }
    with chromium() as browser:
        for label, (width, height) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
            for scheme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": width, "height": height}, color_scheme=scheme
                )
                context.add_cookies([cookie])
                page = context.new_page()
                response = page.goto(url)
                assert response is not None
                assert response.status == 200
                page.wait_for_load_state("networkidle")
                page.wait_for_function("() => window.Chart !== undefined")
                counts = painted(page)
                assert set(counts) == set(CANVASES)
                assert all(n > 500 for n in counts.values()), counts
                assert "Month-end forecast" in page.content()
                assert "weekday pattern" in page.locator("#prompt-audit").evaluate(
                    "(el) => el.previousElementSibling.innerText"
                )
                width_used = page.evaluate("document.documentElement.scrollWidth")
                assert width_used <= width
                page.screenshot(
                    path=screenshots / f"finops-usage-{label}-{scheme}.png", full_page=True
                )
                context.close()
