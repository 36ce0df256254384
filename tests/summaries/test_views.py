"""The pages: Summarise on the Documents page, the Jobs list, cancel, downloads, the
summary on a document's page and the notification when a job ends. Owners and admins
start and see jobs; every member reads summaries; another tenant reaches nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils.html import escape
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.rag.models import Chunk, Document
from apps.summaries.models import DocumentSummary, JobStatus, SummaryJob
from apps.summaries.templatetags.summaries import usd
from apps.tenants.models import Notification, Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.rag.conftest import HANDBOOK_MD, ingest, login, upload
from tests.summaries.test_jobs import run


def _job(tenant: Tenant) -> SummaryJob:
    with tenant_context(tenant.id):
        return SummaryJob.objects.get()


def _start(client: Client, tenant: Tenant, data: dict[str, object]) -> object:
    return client.post(f"/t/{tenant.slug}/summaries/start/", data)


def test_an_admin_summarises_a_selection_and_every_member_reads_it(
    tenant: Tenant,
    owner: User,
    member: User,
    ready_doc: Document,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = login(owner)
    page = client.get(f"/t/{tenant.slug}/documents/").content.decode()
    assert 'id="summarise-form"' in page
    assert f'value="{ready_doc.pk}" form="summarise-form"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/t/{tenant.slug}/summaries/start/", {"document": [str(ready_doc.pk)]}
        )
    assert response.status_code == 302
    assert response["Location"] == f"/t/{tenant.slug}/summaries/"
    job = _job(tenant)
    assert (job.status, job.total, job.created_by_id) == (JobStatus.SUBMITTED, 1, owner.pk)

    jobs_page = client.get(f"/t/{tenant.slug}/summaries/").content.decode()
    assert f'data-job="{job.pk}" data-status="submitted"' in jobs_page
    assert 'hx-trigger="every 3s"' in jobs_page  # polls while the job runs
    assert f"/summaries/{job.pk}/cancel/" in jobs_page

    with django_capture_on_commit_callbacks(execute=True):
        job = run(tenant, job)
    assert (job.status, job.done) == (JobStatus.DONE, 1)
    rows = client.get(f"/t/{tenant.slug}/summaries/list/").content.decode()
    assert 'data-polling="false"' in rows
    assert f"/summaries/{job.pk}/results.csv" in rows
    assert f'<dd class="mono">{usd(job.cost_usd)}</dd>' in rows
    assert f'<dd class="mono muted">{usd(job.realtime_cost_usd)}</dd>' in rows
    assert usd(job.cost_usd) != "$0.00"  # small costs keep their digits

    # The summary, with links to its passages, on the document's page for a member.
    with tenant_context(tenant.id):
        summary = DocumentSummary.objects.get(document_id=ready_doc.pk)
        first = Chunk.objects.filter(document_id=ready_doc.pk).order_by("ordinal").first()
    assert first is not None
    assert str(first.pk) in summary.chunk_ids
    document_page = login(member).get(f"/t/{tenant.slug}/documents/{ready_doc.pk}/")
    html = document_page.content.decode()
    assert escape(summary.text) in html
    assert f'<a class="source-chip" href="#chunk-{first.pk}">#1</a>' in html

    # The admins' in-app notification, and an email to whoever started the job.
    with tenant_context(tenant.id):
        note = Notification.objects.get(kind="summaries.job")
    assert (note.title, note.level) == ("Summaries ready: 1 of 1", "success")
    assert note.title in client.get(f"/t/{tenant.slug}/").content.decode()
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert mail.outbox[0].subject == f"[{tenant.name}] Summaries ready: 1 of 1"


# The test client serves WSGI, which reads the async generator (ASGI streams it).
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_results_download_as_csv_and_json_lines(live_db: None) -> None:
    """Committed rows (live_db): the download streams from an async generator whose pages
    are read in a worker thread, outside any test transaction."""
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"downloads-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Downloads {suffix}")
    document = ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))
    client = login(owner)
    client.post(f"/t/{tenant.slug}/summaries/start/", {"scope": "all"})
    job = run(tenant, _job(tenant))
    assert job.status == JobStatus.DONE
    response = client.get(f"/t/{tenant.slug}/summaries/{job.pk}/results.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="summaries-')
    body = b"".join(response).decode()
    table = list(csv.DictReader(io.StringIO(body)))
    assert [(r["document_title"], r["status"]) for r in table] == [(document.title, "done")]
    assert table[0]["summary"].startswith("[dev model]")
    lines = client.get(f"/t/{tenant.slug}/summaries/{job.pk}/results.jsonl")
    assert lines["Content-Type"] == "application/x-ndjson"
    parsed = [json.loads(x) for x in b"".join(lines).splitlines()]
    assert [(x["document_id"], x["status"]) for x in parsed] == [(str(document.pk), "done")]
    assert client.get(f"/t/{tenant.slug}/summaries/{job.pk}/results.xml").status_code == 404


def test_refusals_go_back_with_what_to_do(tenant: Tenant, owner: User, ready_doc: Document) -> None:
    client = login(owner)
    response = client.post(f"/t/{tenant.slug}/summaries/start/", {}, follow=True)
    assert "Tick the documents to summarise" in response.content.decode()
    response = client.post(
        f"/t/{tenant.slug}/summaries/start/",
        {"document": ["00000000-0000-0000-0000-000000000000"]},
        follow=True,
    )
    assert "No such document" in response.content.decode()
    with tenant_context(tenant.id):
        assert not SummaryJob.objects.exists()


def test_cancel_from_the_jobs_page(tenant: Tenant, owner: User, ready_doc: Document) -> None:
    client = login(owner)
    started = client.post(
        f"/t/{tenant.slug}/summaries/start/", {"document": [str(ready_doc.pk)]}, follow=True
    )
    assert "Summarising 1 document at the batch price" in started.content.decode()
    job = _job(tenant)
    response = client.post(f"/t/{tenant.slug}/summaries/{job.pk}/cancel/", follow=True)
    assert "nothing more will be charged" in response.content.decode()
    assert _job(tenant).status == JobStatus.CANCELLED
    with tenant_context(tenant.id):
        assert not UsageRecord.objects.filter(feature="batch_summary").exists()
        assert not Notification.objects.filter(kind="summaries.job").exists()


def test_members_and_other_tenants_reach_no_job(
    tenant: Tenant,
    owner: User,
    member: User,
    outsider: User,
    other_tenant: Tenant,
    ready_doc: Document,
) -> None:
    login(owner).post(f"/t/{tenant.slug}/summaries/start/", {"document": [str(ready_doc.pk)]})
    job = _job(tenant)
    base = f"/t/{tenant.slug}/summaries"
    as_member = login(member)
    assert (
        'id="summarise-form"' not in as_member.get(f"/t/{tenant.slug}/documents/").content.decode()
    )
    for url in (f"{base}/", f"{base}/list/", f"{base}/{job.pk}/results.csv"):
        assert as_member.get(url).status_code == 403, url
    for url in (f"{base}/start/", f"{base}/{job.pk}/cancel/"):
        assert as_member.post(url, {"scope": "all"}).status_code == 403, url
    # The other tenant's owner: not a member here (404), and this job's id under their
    # own organisation is not found either.
    as_outsider = login(outsider)
    assert as_outsider.get(f"{base}/").status_code == 404
    theirs = f"/t/{other_tenant.slug}/summaries"
    assert as_outsider.get(f"{theirs}/{job.pk}/results.csv").status_code == 404
    assert as_outsider.post(f"{theirs}/{job.pk}/cancel/").status_code == 404
    assert str(job.pk) not in as_outsider.get(f"{theirs}/").content.decode()
    assert _job(tenant).status == JobStatus.QUEUED


def test_usd_keeps_the_digits_small_costs_need() -> None:
    assert [usd(Decimal(v)) for v in ("0", "0.0000421", "0.0123", "12.5")] == [
        "$0.00",
        "$0.000042",
        "$0.0123",
        "$12.50",
    ]


def test_no_jobs_yet_leads_to_the_documents_to_summarise(tenant: Tenant, owner: User) -> None:
    for url in (f"/t/{tenant.slug}/summaries/", f"/t/{tenant.slug}/summaries/list/"):
        page = login(owner).get(url).content.decode()
        assert "No summary jobs yet" in page
        assert f'On the <a href="/t/{tenant.slug}/documents/">Documents</a> page' in page
