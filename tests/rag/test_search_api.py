"""GET /api/v1/search: keys and scopes, input errors in OpenAI's shape, isolation between
two organisations' keys, the note for an organisation with nothing to search."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.rag.models import DocumentStatus
from apps.rag.search_api import NO_DOCUMENTS_NOTE
from apps.tenants.models import Membership, Tenant
from tests.rag.test_retrieval_support import DocumentAndChunks, make_document, set_ai

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

SEARCH = "/api/v1/search"
SECTIONS = [
    ("Refunds", "Customers on a yearly plan can ask for a full refund within 30 days."),
    ("Error codes", "Error QX7-PLUTO-19 means the upload is larger than the storage quota."),
    ("Backups", "Databases are backed up every hour and kept for 35 days."),
]


def key_for(tenant: Tenant, user: User, scopes: Iterable[str] = ("read",)) -> str:
    with tenant_context(tenant.id):
        actor = Membership.objects.get(tenant=tenant, user=user)
        return api_key_create(tenant=tenant, actor=actor, name="Search", scopes=scopes)[1]


def get(key: str | None, **params: str | int) -> ClientResponse:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return Client().get(SEARCH, params, headers=headers)


def error_of(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def policies(tenant: Tenant) -> DocumentAndChunks:
    return make_document(tenant, "Policies", SECTIONS)


def test_results_are_ranked_chunks_with_links(
    tenant: Tenant, owner: User, policies: DocumentAndChunks
) -> None:
    document, chunks = policies
    response = get(key_for(tenant, owner), q="QX7-PLUTO-19", k=2)

    assert response.status_code == 200
    body = response.json()
    assert (body["query"], body["note"]) == ("QX7-PLUTO-19", None)
    assert [r["rank"] for r in body["results"]] == [1, 2]
    top = body["results"][0]
    chunk = chunks[1]
    assert top == {
        "rank": 1,
        "score": top["score"],
        "chunk_id": str(chunk.id),
        "document_id": str(document.id),
        "document_title": "Policies",
        "heading": "Error codes",
        "content": SECTIONS[1][1],
        "url": settings.SITE_URL
        + reverse("rag:document", args=[tenant.slug, document.id])
        + f"#chunk-{chunk.id}",
        "document_summary": None,  # until the document is summarised (tests/summaries)
    }
    assert top["score"] > body["results"][1]["score"] > 0


def test_k_defaults_to_the_passages_per_answer_setting(
    tenant: Tenant, owner: User, policies: DocumentAndChunks
) -> None:
    set_ai(tenant, rag_top_k=2)
    assert len(get(key_for(tenant, owner), q="refund").json()["results"]) == 2


def test_the_call_is_recorded_with_the_key(
    tenant: Tenant, owner: User, policies: DocumentAndChunks
) -> None:
    key = key_for(tenant, owner)
    get(key, q="refund")
    with tenant_context(tenant.id):
        row = UsageRecord.objects.get(feature="rag_search")
    assert row.api_key_id is not None
    assert row.user_id == owner.id


@pytest.mark.parametrize("scopes", [("read",), ("documents",), ("chat", "documents")])
def test_read_or_documents_scope_may_search(
    tenant: Tenant, owner: User, policies: DocumentAndChunks, scopes: tuple[str, ...]
) -> None:
    assert get(key_for(tenant, owner, scopes), q="refund").status_code == 200


def test_a_key_without_read_or_documents_is_refused(
    tenant: Tenant, owner: User, policies: DocumentAndChunks
) -> None:
    error = error_of(get(key_for(tenant, owner, ("chat",)), q="refund"), 403, "missing_scope")
    assert "'read' or 'documents'" in error["message"]
    with tenant_context(tenant.id):
        assert not UsageRecord.objects.filter(feature="rag_search").exists()


@pytest.mark.parametrize(
    ("key", "code"), [(None, "missing_api_key"), ("sk_notarealkey", "invalid_api_key")]
)
def test_no_or_a_wrong_key_is_refused(key: str | None, code: str) -> None:
    error_of(get(key, q="refund"), 401, code)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "refund", "k": 0}, "k"),
        ({"q": "refund", "k": 51}, "k"),
        ({"q": "refund", "k": "ten"}, "k"),
    ],
)
def test_bad_q_or_k_is_a_422_naming_the_parameter(
    tenant: Tenant,
    owner: User,
    policies: DocumentAndChunks,
    params: dict[str, str | int],
    param: str,
) -> None:
    error = error_of(get(key_for(tenant, owner), **params), 422, "invalid_input")

    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert "Fix the request" in error["message"]


def test_another_organisations_key_sees_nothing_of_the_first(
    tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User, policies: DocumentAndChunks
) -> None:
    make_document(other_tenant, "Their notes", [("Plants", "Office plants are watered weekly.")])
    body = get(key_for(other_tenant, outsider), q="QX7-PLUTO-19 refund backups", k=50).json()

    assert [r["document_title"] for r in body["results"]] == ["Their notes"]
    assert str(policies[0].id) not in json.dumps(body)


def test_an_organisation_without_ready_documents_gets_an_empty_result_and_a_note(
    tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User, policies: DocumentAndChunks
) -> None:
    make_document(other_tenant, "Draft", SECTIONS[:1], status=DocumentStatus.EMBEDDING)
    response = get(key_for(other_tenant, outsider), q="refund")

    assert response.status_code == 200
    assert response.json() == {"query": "refund", "results": [], "note": NO_DOCUMENTS_NOTE}
    with tenant_context(other_tenant.id):  # nothing to search: no embedding was bought
        assert not UsageRecord.objects.filter(feature="rag_search").exists()
