"""Notes: members add and read them on the page and over the API; another organisation
(the outsider) can neither read nor write them, through the pages, the API or SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.test import Client

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.notes.models import Note
from apps.notes.services import note_create
from apps.tenants.models import Membership, Tenant
from tests.conftest import api_key, bearer, error_of, login


def a_note(tenant: Tenant, user: User, title: str = "Launch plan") -> Note:
    with tenant_context(tenant.id):
        actor = Membership.objects.get(tenant=tenant, user=user)
        return note_create(actor=actor, title=title, body="Ship on Monday.")


def test_a_member_adds_a_note_and_reads_it(tenant: Tenant, member: User) -> None:
    client = login(member)
    response = client.post(f"/t/{tenant.slug}/notes/", {"title": " Launch plan ", "body": "Mon"})
    assert response.status_code == 302
    with tenant_context(tenant.id):
        note = Note.objects.get()
    assert (note.title, note.body, note.created_by) == ("Launch plan", "Mon", member)
    page = client.get(f"/t/{tenant.slug}/notes/")
    assert page.status_code == 200
    assert b"Launch plan" in page.content


def test_a_note_needs_a_title(tenant: Tenant, member: User) -> None:
    response = login(member).post(f"/t/{tenant.slug}/notes/", {"title": "  "})
    assert response.status_code == 200
    assert b"Give the note a title." in response.content
    with tenant_context(tenant.id):
        assert Note.objects.count() == 0


def test_the_outsider_cannot_read_or_write_notes(
    tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User
) -> None:
    note = a_note(tenant, owner)
    client = login(outsider)
    # Another organisation's page is a 404, as if it did not exist...
    assert client.get(f"/t/{tenant.slug}/notes/").status_code == 404
    assert client.post(f"/t/{tenant.slug}/notes/", {"title": "Hi"}).status_code == 404
    # ... and the outsider's own Notes page does not show the note.
    own = client.get(f"/t/{other_tenant.slug}/notes/")
    assert own.status_code == 200
    assert note.title.encode() not in own.content
    with tenant_context(tenant.id):
        assert list(Note.objects.values_list("title", flat=True)) == ["Launch plan"]
    with tenant_context(other_tenant.id):
        assert Note.objects.count() == 0


def test_row_level_security_hides_and_refuses_other_tenants_rows(
    tenant: Tenant, owner: User, other_tenant: Tenant
) -> None:
    note = a_note(tenant, owner)
    assert Note.objects.filter(id=note.id).count() == 0  # no tenant context: no rows
    with tenant_context(other_tenant.id):
        assert Note.objects.filter(id=note.id).count() == 0
        assert Note.objects.filter(id=note.id).update(title="Changed") == 0
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Note.objects.create(tenant=tenant, title="Planted")
    with tenant_context(tenant.id):
        assert list(Note.objects.values_list("title", flat=True)) == ["Launch plan"]


def test_the_api_creates_lists_and_reads_notes(client: Client, tenant: Tenant, owner: User) -> None:
    headers = bearer(api_key(tenant, owner, scopes=("notes",)))
    created = client.post(
        "/api/v1/notes", {"title": "From the API"}, content_type="application/json", headers=headers
    )
    assert created.status_code == 201, created.content
    note_id = created.json()["id"]
    assert [n["id"] for n in client.get("/api/v1/notes", headers=headers).json()] == [note_id]
    assert client.get(f"/api/v1/notes/{note_id}", headers=headers).json()["title"] == "From the API"
    with tenant_context(tenant.id):
        assert Note.objects.get().created_by == owner  # a key acts for its creator


def test_the_api_checks_the_scope(client: Client, tenant: Tenant, owner: User) -> None:
    reader = bearer(api_key(tenant, owner, scopes=("read",)))
    assert client.get("/api/v1/notes", headers=reader).status_code == 200
    refused = client.post(
        "/api/v1/notes", {"title": "No"}, content_type="application/json", headers=reader
    )
    error_of(refused, 403, "missing_scope")
    chat_only = bearer(api_key(tenant, owner, scopes=("chat",)))
    error_of(client.get("/api/v1/notes", headers=chat_only), 403, "missing_scope")
    with tenant_context(tenant.id):
        assert Note.objects.count() == 0


def test_another_tenants_key_sees_no_note(
    client: Client, tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User
) -> None:
    note = a_note(tenant, owner)
    headers = bearer(api_key(other_tenant, outsider, scopes=("read", "notes")))
    assert client.get("/api/v1/notes", headers=headers).json() == []
    error_of(client.get(f"/api/v1/notes/{note.id}", headers=headers), 404, "not_found")
