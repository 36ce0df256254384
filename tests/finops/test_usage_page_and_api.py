"""The Usage & cost page, its CSV and ``GET /api/v1/usage``: who may see them, the
numbers they show (from the rollups, never the ledger), and what bad input gets."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import User
from apps.api.models import ApiKey
from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.finops import rollups
from apps.finops.selectors import today_utc
from apps.gateway.models import CacheKind
from apps.tenants.models import Tenant
from tests.conftest import owner_of
from tests.finops.conftest import SMART, record


def key_for(tenant: Tenant, scopes: tuple[str, ...] = ("read",)) -> tuple[ApiKey, str]:
    with tenant_context(tenant.id):
        return api_key_create(tenant=tenant, actor=owner_of(tenant.id), name="CI", scopes=scopes)


def some_usage(tenant: Tenant, key: ApiKey | None = None) -> None:
    user_id = owner_of(tenant.id).user_id
    record(tenant.id, user_id=user_id, cost_usd=Decimal("0.25"))
    record(tenant.id, user_id=user_id, requested_model="smart", served_model=SMART,
           cost_usd=Decimal("1.50"))  # fmt: skip
    record(tenant.id, cache=CacheKind.EXACT, tokens_in=0, tokens_out=0,
           cost_usd=Decimal(0), saved_cost_usd=Decimal("0.25"))  # fmt: skip
    if key is not None:
        record(tenant.id, feature="api_chat", api_key_id=key.id, cost_usd=Decimal("0.50"))
    rollups.drain_tenant(tenant.id)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_get(raw_key: str, **params: str) -> Any:
    return Client().get("/api/v1/usage", params, headers={"Authorization": f"Bearer {raw_key}"})


# --- the page ----------------------------------------------------------------------------


def test_the_page_shows_the_rollups_and_never_reads_the_ledger(owner: User, tenant: Tenant) -> None:
    key, _ = key_for(tenant)
    some_usage(tenant, key)
    client = signed_in(owner)
    url = reverse("finops:usage", args=[tenant.slug])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "gateway_usagerecord" in q["sql"]]
    page = response.content.decode()
    assert "$2.2500" in page  # the month's cost: 0.25 + 1.50 + 0 + 0.50
    assert 'id="usage-charts"' in page
    assert "<script>" not in page.replace('<script id="usage-charts" type="application/json">', "")
    charts = response.context["charts"]
    assert sum(charts["daily"]["cost"]) == pytest.approx(2.25)
    # Features in words on the page; their keys stay in the exports and the API (below).
    assert sorted(charts["features"]["labels"]) == ["API chat completions", "Chat answers"]
    assert 'data-chart="features"' in page
    assert 'data-chart="models"' in page
    assert "CI (" in page  # the key's name in the API key breakdown
    assert "Prompt cost audit" in page
    assert reverse("gateway:usage", args=[tenant.slug]) in page  # recent calls, one click away
    assert 'id="quality"' in page  # the AI quality signals, one click away


def test_recent_calls_name_each_feature_in_words(owner: User, tenant: Tenant) -> None:
    key, _ = key_for(tenant)
    some_usage(tenant, key)
    response = signed_in(owner).get(reverse("gateway:usage", args=[tenant.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Chat answers" in page
    assert "API chat completions" in page
    assert ">api_chat<" not in page


def test_members_and_outsiders_cannot_open_it(
    tenant: Tenant, member: User, outsider: User, other_tenant: Tenant
) -> None:
    url = reverse("finops:usage", args=[tenant.slug])
    assert signed_in(member).get(url).status_code == 403
    assert signed_in(outsider).get(url).status_code == 404
    csv_url = reverse("finops:usage_csv", args=[tenant.slug])
    assert signed_in(outsider).get(csv_url).status_code == 404


def test_a_tenant_with_no_usage_gets_a_friendly_empty_page(owner: User, tenant: Tenant) -> None:
    response = signed_in(owner).get(reverse("finops:usage", args=[tenant.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "No AI calls yet" in page
    assert "After the first full day with usage." in page
    assert "Nothing to compare yet" in page
    # The empty breakdowns say so, without an empty chart's space above the sentence.
    assert page.count("No usage in this range.") == 4
    assert 'data-chart="features"' not in page
    assert 'data-chart="models"' not in page


def test_a_bad_range_on_the_page_says_so_and_shows_the_default(owner: User, tenant: Tenant) -> None:
    url = reverse("finops:usage", args=[tenant.slug])
    response = signed_in(owner).get(url, {"start": "2026-12-09", "end": "2026-12-01"})
    assert response.status_code == 400
    assert "is after &#x27;end&#x27; (2026-12-01): swap them." in response.content.decode()


# --- CSV ---------------------------------------------------------------------------------


def test_the_csv_has_the_same_numbers(owner: User, tenant: Tenant) -> None:
    some_usage(tenant)
    response = signed_in(owner).get(reverse("finops:usage_csv", args=[tenant.slug]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    total = next(r for r in rows if r["section"] == "total")
    assert (total["calls"], total["cost_usd"]) == ("3", "1.750000")
    by_model = {r["label"]: r["cost_usd"] for r in rows if r["section"] == "model"}
    assert by_model == {SMART: "1.500000", "openai/local-fast": "0.250000"}
    days = [r for r in rows if r["section"] == "day"]
    assert len(days) == 30
    assert sum(Decimal(r["cost_usd"]) for r in days) == Decimal("1.75")
    savings = {r["label"]: r["cost_usd"] for r in rows if r["section"] == "savings"}
    assert savings["Exact cache"] == "0.250000"


def test_a_bad_csv_range_is_a_400_that_says_why(owner: User, tenant: Tenant) -> None:
    url = reverse("finops:usage_csv", args=[tenant.slug])
    response = signed_in(owner).get(url, {"start": "yesterday"})
    assert response.status_code == 400
    assert "must be a date as YYYY-MM-DD" in response.content.decode()


# --- API ---------------------------------------------------------------------------------


def test_the_api_gives_the_breakdowns_with_a_read_key(tenant: Tenant) -> None:
    key, raw = key_for(tenant)
    some_usage(tenant, key)
    response = api_get(raw)
    assert response.status_code == 200
    body = response.json()
    assert body["totals"]["calls"] == 4
    assert body["totals"]["cost_usd"] == "2.250000"
    assert {r["feature"] for r in body["by_feature"]} == {"chat", "api_chat"}
    assert {r["label"] for r in body["by_feature"]} == {"Chat answers", "API chat completions"}
    assert {r["api_key"] for r in body["by_api_key"]} == {str(key.id), None}
    assert body["savings"]["exact_cache_usd"] == "0.250000"
    assert body["budget"]["marks"] == [50, 80, 100]
    assert body["forecast"]["method"] == "none"  # no full day of history yet
    # Narrowed to the key: only its call.
    narrowed = api_get(raw, api_key=str(key.id)).json()
    assert (narrowed["totals"]["calls"], narrowed["totals"]["cost_usd"]) == (1, "0.500000")
    user_id = owner_of(tenant.id).user_id
    assert api_get(raw, user=str(user_id)).json()["totals"]["calls"] == 2


def test_the_api_needs_the_read_scope(tenant: Tenant) -> None:
    _, raw = key_for(tenant, scopes=("chat",))
    response = api_get(raw)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"


def test_another_tenants_usage_is_not_reachable(tenant: Tenant, other_tenant: Tenant) -> None:
    their_key, _ = key_for(other_tenant)
    some_usage(other_tenant, their_key)
    _, raw = key_for(tenant)
    body = api_get(raw).json()
    assert body["totals"]["calls"] == 0
    assert body["by_feature"] == []
    # Their key and their owner, as filters: unknown here, and said so.
    response = api_get(raw, api_key=str(their_key.id))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "api_key"
    response = api_get(raw, user=str(owner_of(other_tenant.id).user_id))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "user"


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"start": "2026-13-01"}, "start", "must be a date as YYYY-MM-DD"),
        ({"start": ""}, "start", "is empty"),
        ({"start": "2026-12-03", "end": "2026-12-01"}, "start", "swap them"),
        ({"start": "2024-01-01", "end": "2025-12-31"}, "start", "at most 366"),
        ({"api_key": "not-a-key"}, "api_key", "No API key"),
        ({"user": "abc"}, "user", "No user"),
    ],
)
def test_bad_parameters_are_a_clear_400(
    tenant: Tenant, params: dict[str, str], param: str, message: str
) -> None:
    _, raw = key_for(tenant)
    response = api_get(raw, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", param)
    assert message in error["message"]


def test_a_range_ending_in_the_future_is_refused(tenant: Tenant) -> None:
    _, raw = key_for(tenant)
    tomorrow = today_utc() + timedelta(days=1)
    response = api_get(raw, end=tomorrow.isoformat())
    assert response.status_code == 400
    assert "after today" in response.json()["error"]["message"]


def test_an_unknown_user_id_is_refused_even_if_it_exists_elsewhere(tenant: Tenant) -> None:
    _, raw = key_for(tenant)
    response = api_get(raw, user="987654")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["param"] == "user"


def test_the_page_makes_as_many_queries_for_many_people_and_keys_as_for_one(
    owner: User, tenant: Tenant
) -> None:
    client = signed_in(owner)
    url = reverse("finops:usage", args=[tenant.slug])
    first_key, _ = key_for(tenant)
    some_usage(tenant, first_key)  # one person, one key
    client.get(url)  # warm: the session, the tenant's settings
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(4):
        key, _ = key_for(tenant)
        record(tenant.id, feature=f"feature_{n}", api_key_id=key.id, user_id=None)
    rollups.drain_tenant(tenant.id)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
