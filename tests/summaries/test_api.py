"""/api/v1/summaries: start, status, results as JSON lines; refusals; another tenant's
key sees none of it."""

from __future__ import annotations

import re
from decimal import Decimal

from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.models import AISettings
from apps.rag.models import Document
from apps.summaries import jobs
from apps.summaries.models import DocumentSummary, SummaryJob
from apps.summaries.results import page
from apps.tenants.models import Tenant
from tests.rag.conftest import api_key, bearer, error_of
from tests.summaries.test_jobs import TEXTS, run

BASE = "/api/v1/summaries"


def test_texts_through_the_api(
    client: Client,
    tenant: Tenant,
    owner: User,
    other_tenant: Tenant,
    outsider: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    headers = bearer(api_key(tenant, owner))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            BASE,
            {"texts": TEXTS, "instruction": "One sentence."},
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["total"], created["progress"]) == ("queued", 4, 0)
    with tenant_context(tenant.id):
        job = SummaryJob.objects.get(id=created["id"])
    assert job.instruction == "One sentence."
    # The submit task ran on commit (tests run Celery eagerly): the batch is out.
    assert (job.status, job.attempts, job.reason) == ("submitted", 1, "")
    run(tenant, job)

    detail = client.get(f"{BASE}/{job.id}", headers=headers).json()
    assert (detail["status"], detail["done"], detail["progress"]) == ("done", 4, 100)
    assert float(detail["cost_usd"]) > 0
    assert float(detail["realtime_cost_usd"]) == 2 * float(detail["cost_usd"])

    # The results body streams from an async generator that reads pages in a worker
    # thread, which cannot see this test's uncommitted transaction: read its pages here.
    lines = page(str(tenant.id), str(job.id), -1)
    assert [x["ordinal"] for x in lines] == [0, 1, 2, 3]
    assert all(x["status"] == "done" and x["summary"] for x in lines)

    theirs = bearer(api_key(other_tenant, outsider))
    error_of(client.get(f"{BASE}/{job.id}", headers=theirs), 404, "not_found")
    error_of(client.get(f"{BASE}/{job.id}/results", headers=theirs), 404, "not_found")


def test_refusals_say_what_to_do(client: Client, tenant: Tenant, owner: User) -> None:
    headers = bearer(api_key(tenant, owner))
    empty = error_of(
        client.post(BASE, {"texts": []}, content_type="application/json", headers=headers),
        400,
        "invalid_request",
    )
    assert "at least one" in empty["message"]
    unknown = error_of(
        client.post(
            BASE,
            {"document_ids": ["00000000-0000-0000-0000-000000000000"]},
            content_type="application/json",
            headers=headers,
        ),
        400,
        "invalid_request",
    )
    assert "No such document" in unknown["message"]
    no_scope = bearer(api_key(tenant, owner, scopes=("chat",)))
    response = client.post(
        BASE, {"texts": ["x"]}, content_type="application/json", headers=no_scope
    )
    assert response.status_code == 403


def test_cancel_over_the_api(
    client: Client, tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User
) -> None:
    headers = bearer(api_key(tenant, owner))
    created = client.post(
        BASE, {"texts": TEXTS}, content_type="application/json", headers=headers
    ).json()
    theirs = bearer(api_key(other_tenant, outsider))
    error_of(client.post(f"{BASE}/{created['id']}/cancel", headers=theirs), 404, "not_found")
    response = client.post(f"{BASE}/{created['id']}/cancel", headers=headers)
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["reason"]) == ("cancelled", "Cancelled.")
    # Cancelling an ended job answers it as it is.
    again = client.post(f"{BASE}/{created['id']}/cancel", headers=headers)
    assert again.json()["status"] == "cancelled"


def test_a_budget_too_small_is_refused_before_anything_is_queued(
    client: Client, tenant: Tenant, owner: User
) -> None:
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults={"monthly_budget_usd": Decimal("0.000001")}
        )
    headers = bearer(api_key(tenant, owner))
    body = error_of(
        client.post(BASE, {"texts": TEXTS}, content_type="application/json", headers=headers),
        429,
        "insufficient_quota",
    )
    assert re.search(r"may cost up to \$0\.\d{4} but only \$0\.0000 .* is left", body["message"])
    assert "Summarise fewer documents or ask an admin to raise the budget" in body["message"]
    with tenant_context(tenant.id):
        assert not SummaryJob.objects.exists()


def test_search_results_carry_their_documents_summary(
    client: Client,
    tenant: Tenant,
    owner: User,
    ready_doc: Document,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    headers = bearer(api_key(tenant, owner, scopes=("read",)))
    before = client.get("/api/v1/search", {"q": "expenses receipts"}, headers=headers).json()
    assert before["results"]
    assert {r["document_summary"] for r in before["results"]} == {None}
    job = run(tenant, jobs.start_job(tenant, document_ids=[str(ready_doc.pk)]))
    assert job.done == 1
    with tenant_context(tenant.id):
        summary = DocumentSummary.objects.get(document_id=ready_doc.pk).text
    after = client.get("/api/v1/search", {"q": "expenses receipts"}, headers=headers).json()
    assert {(r["document_id"], r["document_summary"]) for r in after["results"]} == {
        (str(ready_doc.pk), summary)
    }
