"""Files attached to a conversation (apps/chat/attachments.py): ingested like documents,
seen by the conversation's user alone, retrieved only in that conversation, gone with it.

Personas: the owner attaches; a colleague (a member) and an admin of the same tenant, and
an outsider (another tenant), must not reach the file by any path: pages, the documents
and search APIs, retrieval for other conversations, raw SQL under the runtime role.
Real PostgreSQL under RLS, real embeddings from the local provider.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from apps.accounts.models import User
from apps.chat import attachments
from apps.chat.models import Attachment, Conversation
from apps.chat.services import conversation_create
from apps.core.db import tenant_context
from apps.gateway.types import CallContext
from apps.rag import retrieval
from apps.rag.models import Chunk, Document
from apps.summaries.jobs import JobError, start_job
from apps.summaries.models import SummaryItem, SummaryJob
from apps.tenants.models import Role, Tenant
from tests.conftest import add_member, make_user
from tests.rag.conftest import HANDBOOK_MD, api_key, bearer, ingest, login, make_pdf, upload

# The RAG tests' fixtures: a local provider that answers, uploads in a per-test folder.
from tests.rag.conftest import _local_provider as _local_provider
from tests.rag.conftest import media_root as media_root

# The attachment's one distinctive fact: no shared document says anything like it.
FALCON_MD = """# Project Falcon brief

## Launch

The Falcon launch is on 14 March. The launch budget is 80,000 EUR, approved by Dana.
"""
FALCON_WORD = "Falcon"


@pytest.fixture
def admin(tenant: Tenant) -> User:
    user = make_user("dana-admin@example.com")
    add_member(tenant, user, Role.ADMIN)
    return user


SLUGS: dict[uuid.UUID, str] = {}


def conversation_of(tenant: Tenant, user: User) -> Conversation:
    SLUGS[tenant.id] = tenant.slug
    with tenant_context(tenant.id, user_id=user.pk):
        return conversation_create(tenant=tenant, user=user)


def url(conversation: Conversation, suffix: str = "") -> str:
    slug = SLUGS[conversation.tenant_id]
    return f"/t/{slug}/chat/{conversation.id}/attachments/{suffix}"


def attach(client: Client, conversation: Conversation, name: str, data: bytes) -> Any:
    return client.post(url(conversation), {"file": SimpleUploadedFile(name, data)})


@pytest.fixture
def falcon(
    tenant: Tenant,
    owner: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> dict[str, Any]:
    """The owner's conversation with FALCON_MD attached and ingested (the eager task)."""
    conversation = conversation_of(tenant, owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = attach(login(owner), conversation, "falcon.md", FALCON_MD.encode())
    assert response.status_code == 201, response.content
    body = json.loads(response.content)
    with tenant_context(tenant.id, user_id=owner.pk):
        document = Document.objects.get(id=body["id"])
    assert document.status == "ready", document.error
    return {"conversation": conversation, "document": document, "body": body}


# --- attaching --------------------------------------------------------------------------


def test_an_attachment_is_ingested_and_listed_for_its_owner(
    falcon: dict[str, Any], tenant: Tenant, owner: User
) -> None:
    conversation, document = falcon["conversation"], falcon["document"]
    assert falcon["body"]["status"] == "queued"  # answered before the task ran
    assert falcon["body"]["duplicate"] is False
    listed = json.loads(login(owner).get(url(conversation)).content)["attachments"]
    assert [(a["id"], a["status"], a["progress"]) for a in listed] == [
        (str(document.id), "ready", 100)
    ]
    assert listed[0]["filename"] == "falcon.md"
    assert listed[0]["type_label"] == "Markdown"
    with tenant_context(tenant.id, user_id=owner.pk):
        assert document.owner_id == owner.pk
        chunks = list(Chunk.objects.filter(document_id=document.id))
        assert chunks
        assert {c.owner_id for c in chunks} == {owner.pk}
    # Its passages page, where a citation leads.
    page = login(owner).get(listed[0]["url"])
    assert page.status_code == 200
    assert f'id="chunk-{chunks[0].pk}"' in page.content.decode()


def test_the_same_file_twice_is_one_attachment(falcon: dict[str, Any], owner: User) -> None:
    again = attach(login(owner), falcon["conversation"], "copy.md", FALCON_MD.encode())
    assert again.status_code == 200
    assert json.loads(again.content)["duplicate"] is True
    assert json.loads(again.content)["id"] == str(falcon["document"].id)


def test_a_shared_document_with_the_same_bytes_does_not_block_an_attachment(
    tenant: Tenant, owner: User
) -> None:
    shared = upload(tenant, owner, "falcon.md", FALCON_MD.encode())
    response = attach(login(owner), conversation_of(tenant, owner), "falcon.md", FALCON_MD.encode())
    assert response.status_code == 201
    assert json.loads(response.content)["id"] != str(shared.id)


def error_of(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    error = json.loads(response.content)["error"]
    assert error["code"] == code
    return str(error["message"])


def test_bad_files_are_refused_with_a_message_and_nothing_is_stored(
    tenant: Tenant, owner: User, settings: Settings, media_root: Path
) -> None:
    conversation = conversation_of(tenant, owner)
    client = login(owner)
    settings.RAG_MAX_UPLOAD_MB = 1
    big = attach(client, conversation, "big.txt", b"word " * 300_000)
    assert "the limit is 1 MB" in error_of(big, 413, "file_too_large")
    binary = attach(client, conversation, "tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 4)
    assert "txt, md, html, pdf, docx" in error_of(binary, 415, "unsupported_file_type")
    empty = attach(client, conversation, "empty.txt", b"   ")
    assert "is empty" in error_of(empty, 400, "empty_file")
    missing = client.post(url(conversation), {})
    assert "Choose a file" in error_of(missing, 400, "no_file")
    with tenant_context(tenant.id, user_id=owner.pk):
        assert not Attachment.objects.filter(conversation=conversation).exists()
        assert not Document.objects.filter(owner=owner).exists()
    assert not list(media_root.rglob("*.*"))


def test_a_full_conversation_refuses_one_more(
    tenant: Tenant, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "MAX_PER_CONVERSATION", 1)
    conversation = conversation_of(tenant, owner)
    client = login(owner)
    assert attach(client, conversation, "a.txt", b"first file").status_code == 201
    refused = attach(client, conversation, "b.txt", b"second file")
    assert "Remove one" in error_of(refused, 409, "too_many_attachments")


def test_a_file_that_cannot_be_read_fails_on_its_chip(
    tenant: Tenant,
    owner: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    conversation = conversation_of(tenant, owner)
    client = login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert attach(client, conversation, "scan.pdf", make_pdf("")).status_code == 201
    (listed,) = json.loads(client.get(url(conversation)).content)["attachments"]
    assert listed["status"] == "failed"
    assert "no text" in listed["error"].lower()


def assert_gone(tenant: Tenant, owner: User, document: Document, stored: Path) -> None:
    """The attachment's document, passages, attachment row and stored file are all gone
    (looked for as its owner, the one person RLS would show them to)."""
    with tenant_context(tenant.id, user_id=owner.pk):
        assert not Document.objects.filter(id=document.id).exists()
        assert not Chunk.objects.filter(document_id=document.id).exists()
        assert not Attachment.objects.filter(document_id=document.id).exists()
    assert not stored.exists()


def test_removing_an_attachment_deletes_its_document_passages_and_file(
    falcon: dict[str, Any],
    tenant: Tenant,
    owner: User,
    media_root: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    document = falcon["document"]
    stored = media_root / document.file.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(owner).post(falcon["body"]["delete_url"])
    assert response.status_code == 200
    assert_gone(tenant, owner, document, stored)


def test_deleting_the_conversation_deletes_its_attachments_and_files(
    falcon: dict[str, Any],
    tenant: Tenant,
    owner: User,
    media_root: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    conversation, document = falcon["conversation"], falcon["document"]
    stored = media_root / document.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = login(owner).post(f"/t/{tenant.slug}/chat/{conversation.id}/delete/")
    assert response.status_code == 302
    assert_gone(tenant, owner, document, stored)
    with tenant_context(tenant.id, user_id=owner.pk):
        assert not Conversation.objects.filter(id=conversation.id).exists()


# --- nobody else reaches it -------------------------------------------------------------


def test_colleagues_and_outsiders_reach_it_by_no_page(
    falcon: dict[str, Any],
    tenant: Tenant,
    owner: User,
    member: User,
    admin: User,
    outsider: User,
    other_tenant: Tenant,
) -> None:
    conversation, document = falcon["conversation"], falcon["document"]
    slug = tenant.slug
    pages = [
        f"/t/{slug}/documents/{document.id}/",
        f"/t/{slug}/documents/{document.id}/file/",
        f"/t/{slug}/documents/{document.id}/status/",
        url(conversation),
        url(conversation, f"{document.id}/"),
    ]
    for person in (member, admin):
        client = login(person)
        listing = client.get(f"/t/{slug}/documents/")
        assert listing.status_code == 200
        assert "falcon" not in listing.content.decode().lower()
        for page in pages:
            assert client.get(page).status_code == 404, (person.email, page)
        assert client.post(url(conversation, f"{document.id}/delete/")).status_code == 404
        # A member may delete no document (403 for any id); an admin finds no such one.
        deleting = client.post(f"/t/{slug}/documents/{document.id}/delete/")
        assert deleting.status_code == (404 if person == admin else 403)
    outsider_client = login(outsider)
    for page in pages:
        assert outsider_client.get(page).status_code == 404
    foreign = f"/t/{other_tenant.slug}/documents/{document.id}/"
    assert outsider_client.get(foreign).status_code == 404
    # Not on the owner's Documents page either: it lives in its conversation only.
    own = login(owner)
    assert "falcon" not in own.get(f"/t/{slug}/documents/").content.decode().lower()
    assert own.get(f"/t/{slug}/documents/{document.id}/").status_code == 404
    with tenant_context(tenant.id, user_id=owner.pk):
        assert Document.objects.filter(id=document.id).exists()  # still there


def test_no_api_key_reaches_it_not_even_the_owners(
    falcon: dict[str, Any], tenant: Tenant, owner: User, admin: User
) -> None:
    document = falcon["document"]
    ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))  # search has results
    client = Client()
    for person in (owner, admin):
        headers = bearer(api_key(tenant, person, ("documents", "read")))
        listed = json.loads(client.get("/api/v1/documents", headers=headers).content)
        assert str(document.id) not in {d["id"] for d in listed}
        detail = client.get(f"/api/v1/documents/{document.id}", headers=headers)
        assert detail.status_code == 404
        gone = client.delete(f"/api/v1/documents/{document.id}", headers=headers)
        assert gone.status_code == 404
        found = json.loads(
            client.get("/api/v1/search", {"q": "Falcon launch budget"}, headers=headers).content
        )
        assert found["results"]
        assert all(r["document_id"] != str(document.id) for r in found["results"])
    # Summaries leave it out even as its owner, whom RLS would let see it.
    with tenant_context(tenant.id, user_id=owner.pk), pytest.raises(JobError, match="No such"):
        start_job(tenant, user_id=owner.pk, document_ids=[str(document.id)])


def test_summarise_all_on_the_documents_page_leaves_the_owners_attachment_out(
    falcon: dict[str, Any], tenant: Tenant, owner: User
) -> None:
    shared = ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))
    response = login(owner).post(f"/t/{tenant.slug}/summaries/start/", {"scope": "all"})
    assert response.status_code == 302
    with tenant_context(tenant.id):
        (job,) = SummaryJob.objects.filter(tenant=tenant)
        items = {item.document_id for item in SummaryItem.objects.filter(job=job)}
    assert job.total == 1
    assert items == {shared.id}
    assert falcon["document"].id not in items


def raw_counts(tenant_id: Any, user_id: Any, document_id: Any) -> tuple[int, int]:
    with tenant_context(tenant_id, user_id=user_id), connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM rag_document WHERE id = %s),"
            " (SELECT count(*) FROM rag_chunk WHERE document_id = %s),"
            " (SELECT count(*) FROM rag_chunk WHERE content LIKE %s)",
            [document_id, document_id, f"%{FALCON_WORD}%"],
        )
        documents, chunks, matching = cursor.fetchone()
    assert chunks == matching
    return documents, chunks


def test_raw_sql_under_the_runtime_role_shows_it_to_its_owner_only(
    falcon: dict[str, Any],
    tenant: Tenant,
    owner: User,
    member: User,
    admin: User,
    outsider: User,
    other_tenant: Tenant,
) -> None:
    document = falcon["document"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        role, superuser, bypass = cursor.fetchone()
    assert (superuser, bypass) == (False, False), role
    documents, chunks = raw_counts(tenant.id, owner.pk, document.id)
    assert documents == 1
    assert chunks >= 1
    assert raw_counts(tenant.id, member.pk, document.id) == (0, 0)
    assert raw_counts(tenant.id, admin.pk, document.id) == (0, 0)
    assert raw_counts(tenant.id, None, document.id) == (0, 0)  # an API key, a task
    assert raw_counts(other_tenant.id, outsider.pk, document.id) == (0, 0)
    assert raw_counts(tenant.id, outsider.pk, document.id) == (0, 0)
    # Nor can a colleague write it: an UPDATE matches no row.
    with tenant_context(tenant.id, user_id=member.pk), connection.cursor() as cursor:
        cursor.execute("UPDATE rag_document SET title = 'taken' WHERE id = %s", [document.id])
        assert cursor.rowcount == 0


# --- retrieval: this conversation only --------------------------------------------------


def ctx_of(tenant: Tenant, user: User) -> CallContext:
    return CallContext(tenant_id=tenant.id, feature="chat", user_id=user.pk)


def hits_for(tenant: Tenant, user: User, include: list[uuid.UUID]) -> set[uuid.UUID]:
    found = retrieval.search(
        tenant.id, "When is the Falcon launch?", k=5, ctx=ctx_of(tenant, user), include=include
    )
    return {h.document_id for h in found}


def test_only_the_conversation_that_names_it_retrieves_it(
    falcon: dict[str, Any], tenant: Tenant, owner: User, member: User
) -> None:
    document = falcon["document"]
    shared = ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))
    # Its conversation: the attachment together with the shared documents.
    with tenant_context(tenant.id, user_id=owner.pk):
        named = attachments.attached_ids(
            tenant_id=tenant.id, conversation_id=falcon["conversation"].id
        )
    assert named == [document.id]
    assert hits_for(tenant, owner, named) == {document.id, shared.id}
    # Another conversation of the same person: shared documents only.
    assert hits_for(tenant, owner, []) == {shared.id}
    # A colleague who names its id gets nothing of it: RLS hides it from them.
    assert hits_for(tenant, member, [document.id]) == {shared.id}
    with tenant_context(tenant.id, user_id=member.pk):
        assert retrieval.has_ready_documents(tenant.id, [document.id])  # the shared one
        Document.objects.filter(id=shared.id).delete()
        assert not retrieval.has_ready_documents(tenant.id, [document.id])


def test_the_owner_policy_keeps_full_text_candidates_an_index_only_scan(
    falcon: dict[str, Any], tenant: Tenant, owner: User
) -> None:
    """The signature index INCLUDEs owner_id: with the policy's columns all in the index,
    the full-text candidates are read without visiting the table (migration 0005)."""
    vector = [0.0] * settings.EMBEDDING_DIM
    vector[0] = 1.0
    params = retrieval.hybrid_params(tenant.id, "Falcon launch", vector, 5, [falcon["document"].id])
    with tenant_context(tenant.id, user_id=owner.pk), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + retrieval.hybrid_sql("exact", "signature"), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using chunk_search_signature_idx" in plan, plan
