"""/api/v1/documents: upload, duplicate, status, list, re-ingest, delete; refusals in
OpenAI's error shape; another tenant's key sees none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.rag.models import Chunk, Document
from apps.tenants.models import Tenant
from tests.rag.conftest import (
    HANDBOOK_MD,
    api_key,
    bearer,
    chunks,
    error_of,
    fresh,
    make_pdf,
    upload,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

    from tests.rag.conftest import ListedDocument

BASE = "/api/v1/documents"
FIELDS = {
    "id",
    "title",
    "filename",
    "content_type",
    "size_bytes",
    "status",
    "error",
    "progress",
    "chunks",
    "created_at",
    "ingested_at",
}


def post_file(
    key: str, name: str, data: bytes, content_type: str = "text/markdown"
) -> ClientResponse:
    return Client().post(
        BASE, {"file": SimpleUploadedFile(name, data, content_type)}, headers=bearer(key)
    )


def count(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return Document.objects.count()


def test_upload_ingest_read_list_reingest_delete(
    tenant: Tenant,
    owner: User,
    media_root: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    key = api_key(tenant, owner)
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        response = post_file(key, "handbook.md", HANDBOOK_MD.encode())
    assert response.status_code == 201
    created = json.loads(response.content)
    assert set(created) == FIELDS | {"duplicate"}
    assert (created["status"], created["progress"], created["chunks"]) == ("queued", 0, 0)
    assert (created["title"], created["duplicate"]) == ("handbook", False)
    assert len(enqueued) == 1  # the ingestion ran (eagerly) once the upload committed

    client = Client()
    detail = json.loads(client.get(f"{BASE}/{created['id']}", headers=bearer(key)).content)
    assert (detail["status"], detail["progress"], detail["chunks"], detail["error"]) == (
        "ready",
        100,
        4,
        "",
    )
    with tenant_context(tenant.id):
        document = Document.objects.get(id=created["id"])
    assert document.uploaded_by_id == owner.id  # a key acts for its creator

    listing = json.loads(client.get(BASE, headers=bearer(key)).content)
    assert [d["id"] for d in listing] == [created["id"]]

    again = post_file(key, "same-bytes.md", HANDBOOK_MD.encode())
    assert again.status_code == 200
    assert json.loads(again.content)["duplicate"] is True
    assert json.loads(again.content)["id"] == created["id"]
    assert count(tenant) == 1

    reingest = client.post(f"{BASE}/{created['id']}/reingest", headers=bearer(key))
    assert reingest.status_code == 202
    assert json.loads(reingest.content)["status"] == "queued"
    assert fresh(document).ingest_attempt == 2

    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(f"{BASE}/{created['id']}", headers=bearer(key))
    assert json.loads(deleted.content) == {"id": created["id"], "deleted": True}
    assert count(tenant) == 0
    with tenant_context(tenant.id):
        assert Chunk.objects.count() == 0
    assert list(media_root.rglob("*.md")) == []
    error_of(client.get(f"{BASE}/{created['id']}", headers=bearer(key)), 404, "not_found")


def test_a_failed_document_reports_why(tenant: Tenant, owner: User) -> None:
    key = api_key(tenant, owner)
    document = upload(tenant, owner, "broken.pdf", b"%PDF-1.4 nothing else")
    with tenant_context(tenant.id):
        from apps.rag.ingest import ingest_document

        ingest_document(document.id)
    body = json.loads(Client().get(f"{BASE}/{document.id}", headers=bearer(key)).content)
    assert body["status"] == "failed"
    assert "could not be read as PDF" in body["error"]
    assert (body["progress"], body["chunks"]) == (0, 0)


@override_settings(RAG_MAX_UPLOAD_MB=1)
def test_refusals_have_openai_error_shape_and_store_nothing(
    tenant: Tenant, owner: User, media_root: Path
) -> None:
    key = api_key(tenant, owner)
    too_big = error_of(post_file(key, "big.txt", b"x" * (1024 * 1024 + 10)), 413, "file_too_large")
    assert too_big["type"] == "invalid_request_error"
    assert too_big["param"] == "file"
    assert "the limit is 1 MB" in too_big["message"]
    wrong = error_of(post_file(key, "a.exe", b"MZ\x00\x00"), 415, "unsupported_file_type")
    assert "txt, md, html, pdf, docx" in wrong["message"]
    mismatch = error_of(post_file(key, "b.md", make_pdf("x")), 415, "unsupported_file_type")
    assert "its content is a PDF" in mismatch["message"]
    empty = error_of(post_file(key, "c.md", b""), 400, "empty_file")
    assert empty["type"] == "invalid_request_error"
    missing = error_of(Client().post(BASE, {}, headers=bearer(key)), 422, "invalid_input")
    assert missing["param"] == "file"
    assert count(tenant) == 0
    assert not media_root.exists() or list(media_root.rglob("*.*")) == []


def test_scope_and_authentication(tenant: Tenant, owner: User, ready_doc: ListedDocument) -> None:
    chat_only = api_key(tenant, owner, scopes=("chat", "read"))
    client = Client()
    for response in (
        client.get(BASE, headers=bearer(chat_only)),
        client.get(f"{BASE}/{ready_doc.id}", headers=bearer(chat_only)),
        client.delete(f"{BASE}/{ready_doc.id}", headers=bearer(chat_only)),
        post_file(chat_only, "x.md", b"# x"),
    ):
        assert error_of(response, 403, "missing_scope")["type"] == "permission_error"
    error_of(client.get(BASE), 401, "missing_api_key")
    assert count(tenant) == 1
    assert fresh(ready_doc).status == "ready"


def test_other_tenants_key_gets_404_everywhere_and_changes_nothing(
    ready_doc: ListedDocument, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    theirs = api_key(other_tenant, outsider)
    client = Client()
    url = f"{BASE}/{ready_doc.id}"
    error_of(client.get(url, headers=bearer(theirs)), 404, "not_found")
    error_of(client.delete(url, headers=bearer(theirs)), 404, "not_found")
    error_of(client.post(f"{url}/reingest", headers=bearer(theirs)), 404, "not_found")
    error_of(client.get(f"{BASE}/not-a-uuid", headers=bearer(theirs)), 422, "invalid_input")
    assert json.loads(client.get(BASE, headers=bearer(theirs)).content) == []
    # The same bytes are a new document in their organisation: dedupe is per tenant.
    response = post_file(theirs, "handbook.md", HANDBOOK_MD.encode())
    assert response.status_code == 201
    assert json.loads(response.content)["id"] != str(ready_doc.id)
    assert (fresh(ready_doc).status, fresh(ready_doc).ingest_attempt) == ("ready", 1)
    assert len(chunks(ready_doc)) == 4
