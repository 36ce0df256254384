"""Test set-up: a real PostgreSQL test database created and migrated by the owner role,
tests connected as the runtime role (so RLS applies to them as to production)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections
from django.test import Client
from pytest_django import DjangoDbBlocker, Settings

from apps.accounts.models import User
from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.tenants.models import Membership, Role, Tenant
from apps.tenants.services import tenant_create
from tests.pg import owner_connect

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    default = settings.DATABASES["default"]
    test_name = f"test_{default['NAME']}"
    with django_db_blocker.unblock():
        connections.close_all()
        with owner_connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{test_name}"')
        default["NAME"] = test_name
        call_command("migrate", verbosity=0, interactive=False)
    # The test database is new, so nothing in the test Redis database may outlive the last
    # run either: allauth's sign-in and sign-up rate-limit counters did, and after a few runs
    # on one machine the sign-up tests met 429s.
    cache.clear()
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        for connection in connections.all():
            # Sessions other threads still hold are ended by the FORCE below (the devstack
            # grants the owner pg_signal_backend). django-stubs lacks the PostgreSQL
            # backend's close_pool (Django 5.1).
            connection.close_pool()  # type: ignore[attr-defined]
        with owner_connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def _ledger_written_before_the_call_returns() -> Iterator[None]:
    # Tests read the ledger right after their calls; the journal (the production default,
    # apps/gateway/journal.py) writes it a few ms later. tests/gateway/test_journal.py
    # turns it on. Session-scoped so that module fixtures making calls (e2e set-ups) are
    # covered too; the ``settings`` fixture restores this value after a test changes it.
    previous = settings.GATEWAY_LEDGER_JOURNAL
    settings.GATEWAY_LEDGER_JOURNAL = False
    yield
    settings.GATEWAY_LEDGER_JOURNAL = previous


@pytest.fixture(autouse=True)
def _eager_celery(settings: Settings) -> None:
    # Unit tests run tasks in-process; tests/core/test_celery_worker.py uses a real worker.
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


def make_user(email: str) -> User:
    """A person who signed up and verified their address, as every persona has."""
    user = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def add_member(tenant: Tenant, user: User, role: str = Role.MEMBER) -> Membership:
    with tenant_context(tenant.id):
        return Membership.objects.create(tenant=tenant, user=user, role=role)


def owner_of(tenant_id: uuid.UUID) -> Membership:
    """The tenant's owner as services take their ``actor``."""
    with tenant_context(tenant_id):
        return Membership.objects.select_related("user", "tenant").get(
            tenant_id=tenant_id, role=Role.OWNER
        )


def login(user: User) -> Client:
    """A test client signed in as ``user``."""
    client = Client()
    client.force_login(user)
    return client


def api_key(tenant: Tenant, user: User, scopes: tuple[str, ...]) -> str:
    """A new API key of ``tenant``, created by its member ``user``, with ``scopes``."""
    with tenant_context(tenant.id):
        actor = Membership.objects.get(tenant=tenant, user=user)
        _, raw = api_key_create(tenant=tenant, actor=actor, name="Test", scopes=list(scopes))
    return raw


def bearer(raw_key: str) -> dict[str, str]:
    """Headers for the test client's ``headers`` argument."""
    return {"Authorization": f"Bearer {raw_key}"}


def error_of(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The body of an API error in OpenAI's shape, checked."""
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    return dict(body["error"])


@pytest.fixture
def owner(db: None) -> User:
    return make_user("alice@example.com")


@pytest.fixture
def tenant(owner: User) -> Tenant:
    return tenant_create(owner=owner, name="Alpha Labs")


@pytest.fixture
def member(tenant: Tenant) -> User:
    user = make_user("bob@example.com")
    add_member(tenant, user, Role.MEMBER)
    return user


@pytest.fixture
def outsider(db: None) -> User:
    return make_user("charlie@example.com")


@pytest.fixture
def other_tenant(outsider: User) -> Tenant:
    return tenant_create(owner=outsider, name="Beta Corp")


@pytest.fixture
def live_db(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """Database access WITHOUT a wrapping test transaction: writes are committed, so
    other processes (the ASGI server, a Celery worker) see them. Use unique emails:
    these rows stay until the test database is dropped at the end of the session."""
    with django_db_blocker.unblock():
        yield
        connections.close_all()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(settings.BASE_DIR) / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
