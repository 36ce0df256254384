"""Row-level security: the database, not the ORM, keeps tenants apart."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from apps.accounts.models import User
from apps.core.db import current_tenant_id, tenant_context, user_context
from apps.gateway.models import AISettings
from apps.gateway.selectors import ai_settings_for
from apps.tenants.models import AuditEvent, Invitation, Membership, Tenant


def count(sql: str, params: list[uuid.UUID] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.fetchone()[0])


def with_ai_settings(*tenants: Tenant) -> None:
    """Each tenant's AI settings row, made as the gateway makes it on first use."""
    for tenant in tenants:
        with tenant_context(tenant.id):
            ai_settings_for(tenant)


def test_no_context_means_no_rows(tenant: Tenant, other_tenant: Tenant) -> None:
    with_ai_settings(tenant, other_tenant)
    assert current_tenant_id() is None
    assert Tenant.objects.count() == 0
    assert Membership.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert AISettings.objects.count() == 0
    assert count("SELECT count(*) FROM tenants_auditevent") == 0


def test_context_shows_only_its_own_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    with_ai_settings(tenant, other_tenant)
    with tenant_context(tenant.id):
        assert list(Tenant.objects.values_list("name", flat=True)) == ["Alpha Labs"]
        assert {e.tenant_id for e in AuditEvent.objects.all()} == {tenant.id}
        assert AISettings.objects.get().tenant_id == tenant.id
        # Raw SQL asking explicitly for the other tenant still sees nothing.
        assert (
            count("SELECT count(*) FROM tenants_auditevent WHERE tenant_id = %s", [other_tenant.id])
            == 0
        )
        assert (
            count("SELECT count(*) FROM gateway_aisettings WHERE tenant_id = %s", [other_tenant.id])
            == 0
        )
        assert count("SELECT count(*) FROM tenants_tenant WHERE id = %s", [other_tenant.id]) == 0


def test_context_is_restored_on_exit_and_nesting(tenant: Tenant, other_tenant: Tenant) -> None:
    with tenant_context(tenant.id):
        with tenant_context(other_tenant.id):
            assert current_tenant_id() == str(other_tenant.id)
        assert current_tenant_id() == str(tenant.id)
    assert current_tenant_id() is None


def test_context_is_rolled_back_after_an_error(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), tenant_context(tenant.id):
        raise RuntimeError("boom")
    assert current_tenant_id() is None
    assert Tenant.objects.count() == 0


def test_writing_a_row_for_another_tenant_fails(
    tenant: Tenant, other_tenant: Tenant, outsider: User
) -> None:
    with tenant_context(tenant.id):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            AuditEvent.objects.create(tenant=other_tenant, action="tenant.updated")
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Membership.objects.create(tenant=other_tenant, user=outsider, role="owner")
        # Moving an own row to another tenant is refused too.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            AuditEvent.objects.filter(tenant=tenant).update(tenant=other_tenant)
    with tenant_context(other_tenant.id):
        assert AuditEvent.objects.filter(action="tenant.updated").count() == 0


def test_updates_and_deletes_cannot_reach_another_tenant(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    with_ai_settings(tenant, other_tenant)
    with tenant_context(tenant.id):
        assert AuditEvent.objects.filter(tenant=other_tenant).delete()[0] == 0
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM gateway_aisettings")
            assert cursor.rowcount == 1  # only its own row
            cursor.execute("UPDATE tenants_tenant SET name = 'pwned'")
            assert cursor.rowcount == 1
    with tenant_context(other_tenant.id):
        assert AISettings.objects.count() == 1
        assert Tenant.objects.get().name == "Beta Corp"


def test_user_context_shows_own_memberships_only(
    tenant: Tenant, other_tenant: Tenant, owner: User, outsider: User
) -> None:
    with user_context(owner.pk):
        assert [m.tenant_id for m in Membership.objects.all()] == [tenant.id]
        assert list(Tenant.objects.values_list("name", flat=True)) == ["Alpha Labs"]
        assert AuditEvent.objects.count() == 0  # user context opens no tenant data
    with user_context(outsider.pk):
        assert list(Tenant.objects.values_list("name", flat=True)) == ["Beta Corp"]


def test_invitation_readable_only_with_its_token_hash(tenant: Tenant, other_tenant: Tenant) -> None:
    from apps.tenants import selectors

    with tenant_context(tenant.id):
        Invitation.objects.create(
            tenant=tenant,
            email="x@example.com",
            token_hash=selectors.token_hash("secret-token"),
            expires_at="2999-01-01T00:00:00Z",
        )
    assert Invitation.objects.count() == 0
    assert selectors.invitation_by_token("wrong-token") is None
    found = selectors.invitation_by_token("secret-token")
    assert found is not None
    assert found.tenant.name == "Alpha Labs"
    # The token context shows that one invitation and its tenant's name, nothing else.
    with tenant_context(other_tenant.id):
        assert Invitation.objects.count() == 0


def test_atenant_context_sets_and_restores(tenant: Tenant, other_tenant: Tenant) -> None:
    from asgiref.sync import async_to_sync, sync_to_async

    from apps.core.db import atenant_context

    async def run() -> tuple[list[str], str | None]:
        async with atenant_context(tenant.id):
            names = [t.name async for t in Tenant.objects.all()]
        after = await sync_to_async(current_tenant_id)()
        return names, after

    # async_to_sync runs the ORM calls on this thread, inside the test's transaction,
    # exactly as an ASGI request runs them on its thread-sensitive executor.
    names, after = async_to_sync(run)()
    assert names == ["Alpha Labs"]
    assert after is None


def test_outermost_context_commits_and_leaves_no_setting_behind(live_db: None) -> None:
    """Without an enclosing transaction (as in a request or a task) the context is one
    transaction: its writes commit and the next transaction starts with no tenant."""
    from apps.tenants.services import tenant_create

    user = User.objects.create_user(f"outer-{uuid.uuid4().hex[:8]}@example.com", "x" * 16)
    created = tenant_create(owner=user, name="Outermost")
    with tenant_context(created.id):
        AuditEvent.objects.create(tenant=created, action="tenant.updated", target="outer")
    assert current_tenant_id() is None
    assert AuditEvent.objects.count() == 0
    with tenant_context(created.id):
        assert AuditEvent.objects.filter(target="outer").count() == 1
