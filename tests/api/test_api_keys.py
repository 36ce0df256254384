"""Tenant API keys and /api/v1: owner, member, outsider, and keys of two tenants."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.api import api as api_module
from apps.api import key_cache
from apps.api.models import ApiKey
from apps.api.selectors import key_hash
from apps.api.services import MAX_KEYS_PER_TENANT, api_key_authenticate, api_key_create
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.tenants.models import AuditEvent, Membership, Role, Tenant
from apps.tenants.selectors import tenant_by_slug_for_operator
from tests.conftest import add_member, make_user

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

ME = "/api/v1/me"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def membership(tenant: Tenant, user: User) -> Membership:
    with tenant_context(tenant.id):
        return Membership.objects.select_related("user").get(tenant=tenant, user=user)


def create_key(
    tenant: Tenant, user: User, *, name: str = "CI", scopes: Iterable[str] = ("chat", "read")
) -> tuple[ApiKey, str]:
    with tenant_context(tenant.id):
        return api_key_create(
            tenant=tenant, actor=membership(tenant, user), name=name, scopes=scopes
        )


def call(raw_key: str | None, path: str = ME) -> ClientResponse:
    headers = {"Authorization": f"Bearer {raw_key}"} if raw_key is not None else {}
    return Client().get(path, headers=headers)


def assert_error(
    response: HttpResponse | ClientResponse, status: int, code: str, type_: str
) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["code"], body["error"]["type"]) == (code, type_)
    error: dict[str, Any] = body["error"]
    return error


def key_count(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return ApiKey.objects.count()


# --- The page -------------------------------------------------------------------------


def test_owner_creates_a_key_shown_once_and_stored_only_as_hash(
    owner: User, tenant: Tenant
) -> None:
    client = login(owner)
    url = reverse("api:keys", args=[tenant.slug])
    response = client.post(url, {"name": "Production backend", "scopes": ["chat", "read"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw_key = response.context["raw_key"]
    assert raw_key.startswith("sk_")
    assert len(raw_key) == 3 + 43
    assert raw_key.encode() in response.content
    assert b"the only time the key is shown" in response.content

    with tenant_context(tenant.id):
        key = ApiKey.objects.get()
        assert key.name == "Production backend"
        assert key.prefix == raw_key[3:11]
        assert key.key_hash == key_hash(raw_key)
        assert key.scopes == ["chat", "read"]
        assert key.created_by == owner
        assert (key.last_used_at, key.revoked_at, key.expires_at) == (None, None, None)
        with connection.cursor() as cursor:
            cursor.execute("SELECT row_to_json(k)::text FROM api_apikey k")
            (row,) = cursor.fetchone()
            cursor.execute("SELECT coalesce(string_agg(a::text, ''), '') FROM tenants_auditevent a")
            (audit,) = cursor.fetchone()
    assert raw_key not in row
    assert raw_key[3:] not in row
    assert raw_key not in audit
    with tenant_context(tenant.id):
        event = AuditEvent.objects.get(action="api_key.created")
    assert (event.target, event.details) == (
        "Production backend",
        {"prefix": key.prefix, "scopes": ["chat", "read"]},
    )

    # The next visit lists the key by prefix only.
    again = client.get(url)
    assert again.status_code == 200
    assert raw_key.encode() not in again.content
    assert f"sk_{key.prefix}…".encode() in again.content
    assert b"never" in again.content


def test_page_shows_empty_state_and_sidebar_link(owner: User, member: User, tenant: Tenant) -> None:
    response = login(owner).get(reverse("api:keys", args=[tenant.slug]))
    assert response.status_code == 200
    assert b"No API keys yet" in response.content
    assert b'aria-current="page">' in response.content
    dashboard = reverse("tenants:dashboard", args=[tenant.slug])
    keys_url = reverse("api:keys", args=[tenant.slug]).encode()
    assert keys_url in login(owner).get(dashboard).content
    assert keys_url not in login(member).get(dashboard).content


def test_invalid_form_shows_errors_and_creates_nothing(owner: User, tenant: Tenant) -> None:
    client = login(owner)
    url = reverse("api:keys", args=[tenant.slug])
    response = client.post(url, {"name": "", "scopes": ["chat"]})
    assert response.status_code == 400
    response = client.post(url, {"name": "No scopes"})
    assert response.status_code == 400
    assert b"Choose at least one scope." in response.content
    response = client.post(url, {"name": "Bad", "scopes": ["admin"]})
    assert response.status_code == 400
    assert key_count(tenant) == 0


def test_member_gets_403_and_creates_or_revokes_nothing(
    owner: User, member: User, tenant: Tenant
) -> None:
    key, _ = create_key(tenant, owner)
    client = login(member)
    url = reverse("api:keys", args=[tenant.slug])
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Mine", "scopes": ["read"]}).status_code == 403
    revoke = reverse("api:key_revoke", args=[tenant.slug, key.id])
    assert client.post(revoke).status_code == 403
    with tenant_context(tenant.id):
        assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("CI", None)]
    with pytest.raises(NotAllowed):
        create_key(tenant, member)


def test_outsider_gets_404_and_changes_nothing(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    key, _ = create_key(tenant, owner)
    client = login(outsider)
    url = reverse("api:keys", args=[tenant.slug])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "x", "scopes": ["read"]}).status_code == 404
    response = client.post(reverse("api:key_revoke", args=[tenant.slug, key.id]))
    assert response.status_code == 404
    assert b"Alpha" not in response.content
    with tenant_context(tenant.id):
        assert list(ApiKey.objects.values_list("name", "revoked_at")) == [("CI", None)]


def test_other_tenants_key_id_in_revoke_url_is_404(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    foreign, foreign_raw = create_key(other_tenant, outsider, name="Beta key")
    response = login(owner).post(reverse("api:key_revoke", args=[tenant.slug, foreign.id]))
    assert response.status_code == 404
    with tenant_context(other_tenant.id):
        assert ApiKey.objects.get(id=foreign.id).revoked_at is None
        assert AuditEvent.objects.filter(action="api_key.revoked").count() == 0
    assert api_key_authenticate(foreign_raw) is not None


def test_revoke_from_the_page(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    client = login(owner)
    response = client.post(reverse("api:key_revoke", args=[tenant.slug, key.id]))
    assert response.status_code == 302
    with tenant_context(tenant.id):
        assert ApiKey.objects.get().revoked_at is not None
        assert AuditEvent.objects.filter(action="api_key.revoked", target="CI").count() == 1
    page = client.get(reverse("api:keys", args=[tenant.slug]))
    assert b"Revoked" in page.content
    assert api_key_authenticate(raw_key) is None
    # Revoking twice says so and changes nothing.
    client.post(reverse("api:key_revoke", args=[tenant.slug, key.id]))
    with tenant_context(tenant.id):
        assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


# --- Services ---------------------------------------------------------------------------


def test_service_rejects_bad_input_with_actionable_messages(owner: User, tenant: Tenant) -> None:
    with pytest.raises(ServiceError, match="Give the key a name"):
        create_key(tenant, owner, name="  ")
    with pytest.raises(ServiceError, match=r"Unknown scope 'admin'\. Choose from"):
        create_key(tenant, owner, scopes=["read", "admin"])
    with pytest.raises(ServiceError, match="Choose at least one scope"):
        create_key(tenant, owner, scopes=[])
    assert key_count(tenant) == 0


def test_key_cap_per_tenant(owner: User, tenant: Tenant) -> None:
    for i in range(MAX_KEYS_PER_TENANT):
        create_key(tenant, owner, name=f"k{i}")
    with pytest.raises(ServiceError, match="Revoke a key you no longer use"):
        create_key(tenant, owner, name="one too many")
    assert key_count(tenant) == MAX_KEYS_PER_TENANT


def test_authenticate_accepts_good_keys_and_rejects_the_rest(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    found = api_key_authenticate(raw_key)
    assert found is not None
    assert (found.id, found.tenant.slug) == (key.id, tenant.slug)
    assert api_key_authenticate(raw_key[:-1] + ("A" if raw_key[-1] != "A" else "B")) is None
    assert api_key_authenticate("sk_short") is None
    assert api_key_authenticate("") is None
    assert api_key_authenticate(key.key_hash) is None  # the stored hash is not a key

    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=key.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    key_cache.clear()  # the update stands in for another process: this one remembers the key
    assert api_key_authenticate(raw_key) is None
    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=key.id).update(expires_at=None, revoked_at=timezone.now())
    assert api_key_authenticate(raw_key) is None


def test_last_used_at_updates_at_most_once_a_minute(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    assert call(raw_key).status_code == 200
    with tenant_context(tenant.id):
        first = ApiKey.objects.get().last_used_at
    assert first is not None
    assert call(raw_key).status_code == 200
    with tenant_context(tenant.id):
        assert ApiKey.objects.get().last_used_at == first
        old = timezone.now() - timedelta(minutes=5)
        ApiKey.objects.filter(id=key.id).update(last_used_at=old)
    key_cache.clear()  # as when the key's entry expires: the next use reads the database
    assert call(raw_key).status_code == 200
    with tenant_context(tenant.id):
        last_used_at = ApiKey.objects.get().last_used_at
    assert last_used_at is not None
    assert last_used_at > old + timedelta(minutes=4)


# --- Row-level security -------------------------------------------------------------------


def test_key_rows_are_invisible_without_their_tenant(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    create_key(tenant, owner)
    assert ApiKey.objects.count() == 0
    with tenant_context(other_tenant.id):
        assert ApiKey.objects.count() == 0
    with tenant_context(tenant.id):
        assert ApiKey.objects.count() == 1


def test_operator_lookup_reads_one_tenant_row_by_slug(tenant: Tenant, other_tenant: Tenant) -> None:
    assert Tenant.objects.filter(slug=tenant.slug).first() is None  # RLS hides it
    found = tenant_by_slug_for_operator(tenant.slug)
    assert found is not None
    assert found.id == tenant.id
    assert tenant_by_slug_for_operator("no-such-org") is None
    assert Tenant.objects.count() == 0  # the setting does not outlive the lookup


# --- The API ------------------------------------------------------------------------------


def test_me_returns_the_keys_own_tenant_only(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    key_a, raw_a = create_key(tenant, owner, name="A key")
    key_b, raw_b = create_key(other_tenant, outsider, name="B key", scopes=["read"])
    response = call(raw_a)
    assert response.status_code == 200
    assert response.json() == {
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": "Alpha Labs", "plan": "free"},
        "key": {
            "id": str(key_a.id),
            "name": "A key",
            "prefix": key_a.prefix,
            "scopes": ["chat", "read"],
        },
    }
    body_b = call(raw_b).json()
    assert body_b["tenant"]["id"] == str(other_tenant.id)
    assert body_b["key"]["id"] == str(key_b.id)
    assert "Alpha" not in json.dumps(body_b)
    assert "Beta" not in response.content.decode()


def test_endpoint_runs_inside_the_keys_tenant_context(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    _, raw_key = create_key(tenant, owner)
    request = RequestFactory().get(ME, HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    seen: list[tuple[int, int]] = []

    def run(req: HttpRequest) -> HttpResponse:
        api_module.ApiKeyAuth()(req)
        seen.append((Membership.objects.count(), ApiKey.objects.count()))
        return HttpResponse("ok")

    response = api_module._run_in_key_tenant(run)(request)
    assert response.status_code == 200
    assert seen == [(1, 1)]  # Alpha's owner and key; none of Beta's rows
    assert ApiKey.objects.count() == 0  # and the context ended with the operation


def test_error_response_rolls_back_the_operations_writes(owner: User, tenant: Tenant) -> None:
    _, raw_key = create_key(tenant, owner)
    request = RequestFactory().get(ME, HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def run(req: HttpRequest) -> HttpResponse:
        api_module.ApiKeyAuth()(req)
        AuditEvent.objects.create(tenant=tenant, action="tenant.updated", target="half-done")
        return HttpResponse(status=409)

    assert api_module._run_in_key_tenant(run)(request).status_code == 409
    with tenant_context(tenant.id):
        assert AuditEvent.objects.filter(target="half-done").count() == 0


def test_bad_keys_get_401_in_openai_shape(owner: User, tenant: Tenant) -> None:
    key, raw_key = create_key(tenant, owner)
    error = assert_error(call(None), 401, "missing_api_key", "authentication_error")
    assert "Authorization: Bearer" in error["message"]
    assert_error(
        Client().get(ME, HTTP_AUTHORIZATION=f"Basic {raw_key}"),
        401,
        "missing_api_key",
        "authentication_error",
    )
    error = assert_error(call("sk_" + "x" * 43), 401, "invalid_api_key", "authentication_error")
    assert error["message"] == "Invalid API key. Create one in Organisation → API keys."

    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=key.id).update(expires_at=timezone.now() - timedelta(days=1))
    error = assert_error(call(raw_key), 401, "expired_api_key", "authentication_error")
    assert "expired" in error["message"]
    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=key.id).update(revoked_at=timezone.now())
    error = assert_error(call(raw_key), 401, "revoked_api_key", "authentication_error")
    assert "revoked" in error["message"]


def test_missing_scope_is_403(owner: User, tenant: Tenant) -> None:
    _, raw_key = create_key(tenant, owner, scopes=["chat"])
    error = assert_error(call(raw_key), 403, "missing_scope", "permission_error")
    assert "'read' scope" in error["message"]


def test_unknown_path_is_404_in_openai_shape(owner: User, tenant: Tenant) -> None:
    _, raw_key = create_key(tenant, owner)
    assert_error(call(raw_key, "/api/v1/nope"), 404, "not_found", "invalid_request_error")
    assert_error(call(None, "/api/v1/nope"), 404, "not_found", "invalid_request_error")


def test_validation_errors_are_422_in_openai_shape() -> None:
    from ninja.errors import ValidationError

    request = RequestFactory().post("/api/v1/anything")
    exc = ValidationError([{"loc": ("body", "payload", "name"), "msg": "Field required"}])
    response = api_module._on_validation_error(request, exc)
    error = assert_error(response, 422, "invalid_input", "invalid_request_error")
    assert error["param"] == "payload.name"
    assert (
        error["message"] == "Field required (at payload.name). Fix the request and send it again."
    )


def test_openapi_docs_are_served(db: None) -> None:
    assert Client().get("/api/v1/docs").status_code == 200
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Starter API"
    assert "/api/v1/me" in schema["paths"]


# --- The management command -----------------------------------------------------------------


def test_command_prints_a_working_key_once(owner: User, tenant: Tenant) -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key", tenant=tenant.slug, name="Ops", scopes="read", stdout=out, stderr=err
    )
    raw_key = out.getvalue().strip()
    assert raw_key.startswith("sk_")
    assert "cannot be shown again" in err.getvalue()
    assert raw_key not in err.getvalue()
    body = call(raw_key).json()
    assert (body["tenant"]["slug"], body["key"]["name"], body["key"]["scopes"]) == (
        tenant.slug,
        "Ops",
        ["read"],
    )
    with tenant_context(tenant.id):
        assert ApiKey.objects.get().created_by == owner


def test_command_fails_clearly(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="No organisation with slug nope"):
        call_command("create_api_key", tenant="nope", name="x")
    with pytest.raises(CommandError, match="Unknown scope 'admin'"):
        call_command("create_api_key", tenant=tenant.slug, name="x", scopes="admin")
    assert key_count(tenant) == 0


def test_admin_can_manage_keys(tenant: Tenant) -> None:
    admin = make_user("dana@example.com")
    add_member(tenant, admin, Role.ADMIN)
    key, _ = create_key(tenant, admin, name="Admin key")
    assert login(admin).get(reverse("api:keys", args=[tenant.slug])).status_code == 200
    assert key.created_by == admin


def test_service_errors_become_400_or_403_in_openai_shape() -> None:
    request = RequestFactory().post("/api/v1/anything")
    response = api_module._on_service_error(request, ServiceError("Give it a name."))
    error = assert_error(response, 400, "invalid", "invalid_request_error")
    assert error["message"] == "Give it a name."
    response = api_module._on_service_error(request, NotAllowed("Owners only."))
    assert_error(response, 403, "forbidden", "permission_error")


def test_conversations_api_lists_and_reads_only_the_key_creators(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    from apps.api import services as key_services
    from apps.chat import services as chat_services
    from apps.chat.models import Conversation

    with tenant_context(tenant.id):
        mine = chat_services.conversation_create(tenant=tenant, user=owner)
        chat_services.message_post(conversation=mine, content="First question", plan=tenant.plan)
        actor = Membership.objects.get(user=owner)
        _, raw = key_services.api_key_create(
            tenant=tenant, actor=actor, name="Reader", scopes=["read"]
        )
    with tenant_context(other_tenant.id):
        theirs = Conversation.objects.create(tenant=other_tenant, user=outsider, title="Secret")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listed = client.get("/api/v1/conversations").json()
    assert [c["id"] for c in listed] == [str(mine.id)]
    detail = client.get(f"/api/v1/conversations/{mine.id}").json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][0]["content"] == "First question"
    assert detail["messages"][1]["rag"] == {}  # no documents were involved
    foreign = client.get(f"/api/v1/conversations/{theirs.id}")
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
