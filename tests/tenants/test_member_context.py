"""A member's request enters its tenant with the lookup that finds the membership: one
round trip for both in the outermost transaction (every served request), and a nested
block (a caller's transaction) still restores what it found on exit."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.http import HttpRequest
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.core.db import TENANT_SETTING, enter_tenant, user_context
from apps.tenants.middleware import as_member
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user


def tenant_setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [TENANT_SETTING])
        return str(cursor.fetchone()[0] or "")


def visible_tenants() -> list[uuid.UUID]:
    return list(Tenant.objects.values_list("id", flat=True))


def request_of(user: User, tenant: Tenant) -> HttpRequest:
    request = RequestFactory().get(f"/t/{tenant.slug}/")
    request.user = user
    return request


def new_member() -> tuple[User, Tenant]:
    user = make_user(f"entering-{uuid.uuid4().hex[:10]}@example.com")
    return user, tenant_create(owner=user, name=f"Entering {uuid.uuid4().hex[:6]}")


def test_the_membership_lookup_enters_the_tenant_in_the_same_round_trip(live_db: None) -> None:
    user, tenant = new_member()

    with (
        CaptureQueriesContext(connection) as queries,
        as_member(request_of(user, tenant), tenant.slug),
    ):
        entering = [q["sql"] for q in queries if q["sql"] != "BEGIN"]
        assert tenant_setting() == str(tenant.id)
        assert visible_tenants() == [tenant.id]

    # The user's context, then the lookup that entered the tenant: nothing more.
    assert len(entering) == 2
    assert entering[0].startswith("SELECT set_config")
    assert "tenants_membership" in entering[1]
    assert "set_config" in entering[1]
    assert tenant_setting() == ""  # the transaction's end cleared it


def test_nested_in_a_transaction_the_tenant_is_restored_on_exit(live_db: None) -> None:
    user, tenant = new_member()
    with transaction.atomic():
        with as_member(request_of(user, tenant), tenant.slug):
            assert tenant_setting() == str(tenant.id)
        assert tenant_setting() == ""
        assert visible_tenants() == []


def test_enter_tenant_refuses_a_value_the_lookup_did_not_set(live_db: None) -> None:
    user, tenant = new_member()
    entering = enter_tenant(tenant.id, user_id=user.pk, entered=str(uuid.uuid4()))
    with user_context(user.pk), pytest.raises(ValueError, match="another tenant"), entering:
        pass
