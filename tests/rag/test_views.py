"""The documents pages as owner, member and outsider: upload, refusals, duplicates, the
list that polls only while something is unfinished, the document page with citation
anchors, download, re-ingest and delete."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.rag.chunking import HEADING_SEPARATOR
from apps.rag.models import Chunk, Document
from apps.tenants.models import Tenant
from tests.conftest import add_member, make_user
from tests.rag.conftest import HANDBOOK_MD, chunks, fresh, login, upload

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

    from tests.rag.conftest import ListedDocument


def list_url(tenant: Tenant) -> str:
    return reverse("rag:documents", args=[tenant.slug])


def document_urls(tenant: Tenant, document_id: uuid.UUID) -> list[tuple[str, str]]:
    slug = tenant.slug
    return [
        ("get", reverse("rag:document", args=[slug, document_id])),
        ("get", reverse("rag:status", args=[slug, document_id])),
        ("get", reverse("rag:file", args=[slug, document_id])),
        ("post", reverse("rag:reingest", args=[slug, document_id])),
        ("post", reverse("rag:delete", args=[slug, document_id])),
    ]


def documents_of(tenant: Tenant) -> list[Document]:
    with tenant_context(tenant.id):
        return list(Document.objects.all())


def post_file(
    client: Client, tenant: Tenant, name: str, data: bytes, content_type: str = "text/markdown"
) -> ClientResponse:
    return client.post(list_url(tenant), {"file": SimpleUploadedFile(name, data, content_type)})


def test_owner_uploads_and_the_list_polls_until_it_is_finished(
    owner: User, tenant: Tenant, media_root: Path
) -> None:
    client = login(owner)
    response = post_file(client, tenant, "Handbook 2026.md", HANDBOOK_MD.encode())
    assert response.status_code == 302
    [document] = documents_of(tenant)
    assert (document.status, document.title, document.filename) == (
        "queued",
        "Handbook 2026",
        "Handbook 2026.md",
    )
    assert document.content_type == "text/markdown"
    assert document.file.name == f"tenants/{tenant.id}/documents/{document.id}/Handbook_2026.md"
    assert (media_root / document.file.name).read_bytes() == HANDBOOK_MD.encode()

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "“Handbook 2026.md” was uploaded" in html
    assert 'data-status="queued"' in html
    assert f'hx-get="{reverse("rag:rows", args=[tenant.slug])}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "htmx-2.0.8.min.js" in html


def test_progress_bar_while_embedding_and_no_polling_once_finished(
    ready_doc: ListedDocument, owner: User, tenant: Tenant
) -> None:
    client = login(owner)
    rows = reverse("rag:rows", args=[tenant.slug])
    html = client.get(rows).content.decode()
    assert "Ready" in html
    assert "hx-trigger" not in html  # everything finished: the list stops polling
    with tenant_context(tenant.id):
        Document.objects.filter(id=ready_doc.id).update(
            status="embedding", chunks_done=3, chunks_total=12
        )
    html = client.get(rows).content.decode()
    assert "Embedding 25%" in html
    assert 'aria-valuenow="25"' in html
    assert 'hx-trigger="every 2s"' in html
    with tenant_context(tenant.id):
        Document.objects.filter(id=ready_doc.id).update(status="failed", error="Bad file. Fix it.")
    html = client.get(rows).content.decode()
    assert "Failed" in html
    assert "Bad file. Fix it." in html
    assert "hx-trigger" not in html


def test_duplicate_upload_links_to_the_existing_document(
    ready_doc: ListedDocument, owner: User, tenant: Tenant
) -> None:
    client = login(owner)
    response = post_file(client, tenant, "copy-of-handbook.md", HANDBOOK_MD.encode())
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    link = reverse("rag:document", args=[tenant.slug, ready_doc.id])
    assert f'This file is already here as <a href="{link}">handbook</a>' in page
    assert [d.id for d in documents_of(tenant)] == [ready_doc.id]


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("empty.md", b"", 400, "“empty.md” is empty."),
        ("spaces.txt", b"  \n\t ", 400, "“spaces.txt” is empty."),
        ("slides.pptx", b"PK\x03\x04rest", 415, "Upload one of: txt, md, html, pdf, docx."),
        ("photo.pdf", b"\x89PNG\r\n\x1a\n\x00\x00", 415, "its content is a PNG image"),
        ("big.txt", b"a" * (1024 * 1024 + 1), 413, "the limit is 1 MB"),
    ],
)
@override_settings(RAG_MAX_UPLOAD_MB=1)
def test_refused_uploads_say_why_and_store_nothing(
    owner: User,
    tenant: Tenant,
    media_root: Path,
    name: str,
    data: bytes,
    status: int,
    message: str,
) -> None:
    response = post_file(login(owner), tenant, name, data, "application/octet-stream")
    assert response.status_code == status
    assert message in response.content.decode()
    assert documents_of(tenant) == []
    assert not media_root.exists() or list(media_root.rglob("*.*")) == []


def test_a_missing_file_field_is_a_form_error(owner: User, tenant: Tenant) -> None:
    response = login(owner).post(list_url(tenant), {})
    assert response.status_code == 400
    assert "Choose a file to upload." in response.content.decode()


def test_member_reads_but_cannot_upload_reingest_or_delete(
    ready_doc: ListedDocument, tenant: Tenant, member: User
) -> None:
    client = login(member)
    page = client.get(list_url(tenant)).content.decode()
    assert "handbook" in page
    assert 'type="file"' not in page  # no upload form
    assert "Re-ingest" not in page
    assert client.get(reverse("rag:document", args=[tenant.slug, ready_doc.id])).status_code == 200
    download = client.get(reverse("rag:file", args=[tenant.slug, ready_doc.id]))
    assert download.status_code == 200
    assert post_file(client, tenant, "other.md", b"# Other").status_code == 403
    for method, url in document_urls(tenant, ready_doc.id):
        if method == "post":
            assert client.post(url).status_code == 403
    assert [d.id for d in documents_of(tenant)] == [ready_doc.id]
    assert fresh(ready_doc).ingest_attempt == 1
    assert len(chunks(ready_doc)) == 4


def test_document_page_shows_passages_in_order_with_citation_anchors(
    ready_doc: ListedDocument, owner: User, tenant: Tenant
) -> None:
    page = login(owner).get(reverse("rag:document", args=[tenant.slug, ready_doc.id]))
    html = page.content.decode()
    stored = chunks(ready_doc)
    anchors = re.findall(r'<li class="chunk" id="chunk-([0-9a-f-]{36})">', html)
    assert anchors == [str(c.id) for c in stored]
    assert HEADING_SEPARATOR.join(["Employee handbook", "Expenses", "Travel"]) in html
    assert "Book economy class for flights under six hours." in html
    assert "4 passages · " in html
    assert "hx-trigger" not in html
    # A citation link is the page URL plus the chunk's fragment.
    citation = f"{reverse('rag:document', args=[tenant.slug, ready_doc.id])}#chunk-{stored[2].id}"
    assert citation.startswith(f"/t/{tenant.slug}/documents/{ready_doc.id}/#chunk-")


def test_document_page_polls_its_status_and_reloads_when_done(
    ready_doc: ListedDocument, owner: User, tenant: Tenant
) -> None:
    client = login(owner)
    with tenant_context(tenant.id):
        Document.objects.filter(id=ready_doc.id).update(status="parsing")
    html = client.get(reverse("rag:document", args=[tenant.slug, ready_doc.id])).content.decode()
    status_url = reverse("rag:status", args=[tenant.slug, ready_doc.id])
    assert f'hx-get="{status_url}"' in html
    assert "Reading the file" in html
    with tenant_context(tenant.id):
        Document.objects.filter(id=ready_doc.id).update(status="ready")
    done = client.get(status_url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert "hx-trigger" not in done.content.decode()


def test_download_is_an_attachment_with_the_original_bytes(tenant: Tenant, owner: User) -> None:
    html = b"<h1>Hi</h1><script>alert(1)</script>"
    document = upload(tenant, owner, "page.html", html)
    response = login(owner).get(reverse("rag:file", args=[tenant.slug, document.id]))
    assert response.content == html
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_owner_reingests_and_deletes_from_the_page(
    ready_doc: ListedDocument,
    owner: User,
    tenant: Tenant,
    media_root: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = login(owner)
    stored = media_root / ready_doc.file.name
    assert stored.exists()
    response = client.post(
        reverse("rag:reingest", args=[tenant.slug, ready_doc.id]), {"from": "document"}
    )
    assert response["Location"] == reverse("rag:document", args=[tenant.slug, ready_doc.id])
    assert (fresh(ready_doc).status, fresh(ready_doc).ingest_attempt) == ("queued", 2)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rag:delete", args=[tenant.slug, ready_doc.id]))
    assert response["Location"] == list_url(tenant)
    assert documents_of(tenant) == []
    with tenant_context(tenant.id):
        assert Chunk.objects.count() == 0
    assert not stored.exists()


def test_outsider_and_other_tenants_get_404_and_change_nothing(
    ready_doc: ListedDocument, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    client = login(outsider)  # owner of other_tenant, not a member of tenant
    assert client.get(list_url(tenant)).status_code == 404
    assert client.post(list_url(tenant), {}).status_code == 404
    assert client.get(reverse("rag:rows", args=[tenant.slug])).status_code == 404
    for method, url in document_urls(tenant, ready_doc.id):
        assert getattr(client, method)(url).status_code == 404, url
    # Their own organisation's URLs with tenant A's document id: 404 too.
    for method, url in document_urls(other_tenant, ready_doc.id):
        assert getattr(client, method)(url).status_code == 404, url
    own_list = client.get(list_url(other_tenant)).content.decode()
    assert str(ready_doc.id) not in own_list
    assert 'class="doc-row"' not in own_list
    assert fresh(ready_doc).status == "ready"
    assert fresh(ready_doc).ingest_attempt == 1
    assert len(chunks(ready_doc)) == 4


def test_the_list_page_query_count_does_not_grow_with_documents(
    owner: User, tenant: Tenant, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    client = login(owner)
    for i in range(3):
        upload(tenant, owner, f"doc{i}.txt", f"Document number {i}.".encode())
    with django_assert_max_num_queries(20) as few:
        client.get(list_url(tenant))
    for i in range(3, 12):
        upload(tenant, owner, f"doc{i}.txt", f"Document number {i}.".encode())
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(list_url(tenant))
    assert page.content.decode().count('class="doc-row"') == 12


def test_sidebar_links_to_documents(owner: User, tenant: Tenant) -> None:
    admin = make_user("dana@example.com")
    add_member(tenant, admin, "admin")
    html = login(admin).get(reverse("tenants:dashboard", args=[tenant.slug])).content.decode()
    assert f'href="{list_url(tenant)}"' in html
    page = login(admin).get(list_url(tenant)).content.decode()
    assert 'type="file"' in page  # admins upload like owners
    assert 'aria-current="page"' in page


def test_upload_reingest_and_delete_are_in_the_audit_log(
    owner: User, tenant: Tenant, media_root: Path
) -> None:
    from apps.tenants.models import AuditEvent

    client = login(owner)
    post_file(client, tenant, "policy.md", b"# Policy\n\nBe kind.")
    with tenant_context(tenant.id):
        document = Document.objects.get(filename="policy.md")
    client.post(reverse("rag:reingest", args=[tenant.slug, document.id]))
    client.post(reverse("rag:delete", args=[tenant.slug, document.id]))
    with tenant_context(tenant.id):
        events = list(
            AuditEvent.objects.filter(action__startswith="document.").order_by("created_at")
        )
    assert [(e.action, e.actor_id, e.target) for e in events] == [
        ("document.uploaded", owner.id, "policy.md"),
        ("document.reingested", owner.id, "policy.md"),
        ("document.deleted", owner.id, "policy.md"),
    ]
    assert {e.details["document_id"] for e in events} == {str(document.id)}
