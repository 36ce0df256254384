"""Wrong-answer reports for the semantic cache: a served hit is remembered with its ledger
row; a report (admin page, API) removes the entry and keeps the pair, per tenant."""

from __future__ import annotations

import io
import json
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from apps.accounts.models import User
from apps.api import services as key_services
from apps.core.db import tenant_context
from apps.gateway.models import SemanticCacheEntry, SemanticCacheHit
from apps.gateway.types import CallContext
from apps.tenants.models import Membership, Tenant
from tests.conftest import add_member, make_user
from tests.gateway.conftest import PACED, MakeTenant, rows, stream, tokens

QUESTION = "How can I reset my password?"
PARAPHRASE = "How do I reset my password?"


def ctx(tenant: Tenant, request_id: str) -> CallContext:
    return CallContext(tenant_id=tenant.id, feature="chat", request_id=request_id)


def served_from_cache(tenant: Tenant) -> tuple[str, str]:
    """Ask a question, then a paraphrase the cache answers: the two answers' request ids."""
    first, second = f"ask-{uuid.uuid4().hex[:8]}", f"hit-{uuid.uuid4().hex[:8]}"
    stream(ctx(tenant, first), QUESTION)
    stream(ctx(tenant, second), PARAPHRASE, extra_headers=PACED)
    assert [r.cache for r in rows(tenant, feature="chat")] == ["", "semantic"]
    return first, second


def hits(tenant: Tenant) -> list[SemanticCacheHit]:
    with tenant_context(tenant.id):
        return list(SemanticCacheHit.objects.order_by("created_at"))


def entries(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return SemanticCacheEntry.objects.count()


def api_key(tenant: Tenant, scopes: list[str]) -> str:
    with tenant_context(tenant.id):
        actor = Membership.objects.filter(tenant=tenant, role="owner").get()
        _, raw = key_services.api_key_create(
            tenant=tenant, actor=actor, name="reports", scopes=scopes
        )
    return raw


def report(key: str, request_id: str, note: str = "") -> tuple[int, dict[str, object]]:
    response = Client().post(
        "/api/v1/cache/reports",
        data=json.dumps({"request_id": request_id, "note": note}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    return response.status_code, response.json()


def test_a_semantic_hit_is_kept_with_its_ledger_row(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    _, hit_request = served_from_cache(tenant)
    [hit] = hits(tenant)
    [_, ledger_row] = rows(tenant, feature="chat")
    assert hit.usage_record_id == ledger_row.id
    assert ledger_row.request_id == hit_request
    assert (hit.query, hit.cached_query) == (PARAPHRASE, QUESTION)
    assert 0.80 <= hit.similarity <= 1.0
    assert hit.reported_at is None


def test_api_report_removes_the_entry_and_keeps_the_pair(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    _, hit_request = served_from_cache(tenant)
    key = api_key(tenant, ["chat"])
    status, body = report(key, hit_request, note="asked about the admin password")
    assert status == 201, body
    assert (body["question"], body["cached_question"]) == (PARAPHRASE, QUESTION)
    assert entries(tenant) == 0
    [hit] = hits(tenant)
    assert (hit.reported_via, hit.note) == ("api", "asked about the admin password")
    # Reporting again changes nothing; the paraphrase now goes to the model.
    assert report(key, hit_request)[0] == 201
    assert len(hits(tenant)) == 1
    answer = tokens(stream(ctx(tenant, "again"), PARAPHRASE, extra_headers=PACED))
    assert answer
    assert [r.cache for r in rows(tenant, feature="chat")][-1] == ""


def test_api_report_refuses_answers_not_from_the_cache(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    first_request, _ = served_from_cache(tenant)
    key = api_key(tenant, ["chat"])
    status, body = report(key, first_request)
    assert status == 404
    assert body["error"]["code"] == "not_a_cache_hit"  # type: ignore[index]
    assert report(key, "no-such-request")[0] == 404
    assert entries(tenant) == 1
    # A key without the chat scope may not report.
    assert report(api_key(tenant, ["read"]), first_request)[0] == 403


def test_another_tenant_cannot_report_or_see_the_hit(
    make_tenant: MakeTenant, outsider: User, other_tenant: Tenant
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    _, hit_request = served_from_cache(tenant)
    [hit] = hits(tenant)
    status, _ = report(api_key(other_tenant, ["chat"]), hit_request)
    assert status == 404
    assert entries(tenant) == 1
    assert hits(tenant)[0].reported_at is None
    # Raw SQL under the runtime role, in the other tenant's context: nothing.
    with tenant_context(other_tenant.id), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM gateway_semanticcachehit WHERE id = %s", [hit.id])
        assert cursor.fetchone() == (0,)
        cursor.execute("UPDATE gateway_semanticcachehit SET note = 'x' WHERE id = %s", [hit.id])
        assert cursor.rowcount == 0
    # The admin page of the other tenant cannot report it either.
    client = Client()
    client.force_login(outsider)
    url = f"/t/{other_tenant.slug}/settings/ai/cache/{hit.id}/report/"
    assert client.post(url).status_code == 404
    assert hits(tenant)[0].reported_at is None


def test_admin_reports_from_the_page_and_downloads_the_pairs(
    make_tenant: MakeTenant, owner: User
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    served_from_cache(tenant)
    [hit] = hits(tenant)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/t/{tenant.slug}/settings/ai/cache/")
    assert page.status_code == 200
    assert PARAPHRASE in page.content.decode()
    response = client.post(f"/t/{tenant.slug}/settings/ai/cache/{hit.id}/report/", follow=True)
    assert "will not be served from the cache again" in response.content.decode()
    assert entries(tenant) == 0
    [reported] = hits(tenant)
    assert (reported.reported_via, reported.reported_by_id) == ("admin", owner.pk)
    download = client.get(f"/t/{tenant.slug}/settings/ai/cache/reports.jsonl")
    lines = [json.loads(line) for line in download.content.decode().splitlines()]
    assert lines == [{"id": str(hit.id), "cached": QUESTION, "new": PARAPHRASE}]


def test_members_who_are_not_admins_cannot_open_the_page(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    member = make_user(f"m-{uuid.uuid4().hex[:6]}@example.com")
    add_member(tenant, member)
    client = Client()
    client.force_login(member)
    assert client.get(f"/t/{tenant.slug}/settings/ai/cache/").status_code == 403
    assert client.get(f"/t/{tenant.slug}/settings/ai/cache/reports.jsonl").status_code == 403


def test_cache_decide_prints_one_decision_per_line_and_writes_nothing(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    before = entries(tenant)
    lines = [
        {"id": 1, "cached": QUESTION, "new": PARAPHRASE},
        {"id": 2, "cached": "How do I convert USD to EUR?", "new": "How do I convert EUR to USD?"},
        {"id": 3, "cached": "", "new": "Anything?"},
        "not an object",
        {"id": 5, "cached": "only cached"},
    ]
    source = "\n".join(json.dumps(x) for x in lines) + "\n{broken json\n"
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(source))
    call_command("cache_decide", "-", stdout=out)
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["id"] for row in printed] == [1, 2, 3, None, 5, None]  # input order
    by_id = {row["id"]: row for row in printed if row["id"] is not None}
    assert by_id[1]["hit"] is True
    assert by_id[1]["similarity"] > 0.9
    assert by_id[2]["hit"] is False
    assert "differ" in by_id[2]["reason"]
    assert by_id[3] == {"id": 3, "hit": False, "similarity": None, "reason": "empty"}
    assert by_id[5]["hit"] is False
    assert "needs" in by_id[5]["reason"]
    assert sum("not JSON" in row["reason"] for row in printed) == 1
    assert sum("not a JSON object" in row["reason"] for row in printed) == 1
    assert entries(tenant) == before
