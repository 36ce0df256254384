"""The role the web and workers use cannot bypass row-level security, checked under
the settings production uses (DJANGO_DEBUG=false), in a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from apps.tenants.models import Tenant

PROBE = """
import json
from django.db import connection
with connection.cursor() as c:
    c.execute(
        "SELECT current_user, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,"
        " (SELECT count(*) FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace"
        "  WHERE n.nspname = 'public' AND pg_get_userbyid(k.relowner) = current_user),"
        " current_setting('hnsw.iterative_scan', true)"
        " FROM pg_roles r WHERE r.rolname = current_user"
    )
    print(json.dumps(c.fetchone()))
"""


def test_runtime_role_attributes_under_production_settings(db: None) -> None:
    from tests.servers import runtime_database_url

    url = runtime_database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DATABASE_URL": url,
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    ).stdout
    user, superuser, bypassrls, createrole, createdb, owned, iterative = json.loads(
        out.strip().splitlines()[-1]
    )
    assert user == "app_runtime"
    assert (superuser, bypassrls, createrole, createdb) == (False, False, False, False)
    assert owned == 0
    assert iterative == "relaxed_order"


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tenants_auditevent DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE tenants_auditevent NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON tenants_auditevent",
        "TRUNCATE tenants_auditevent",
        "SET row_security = off",
    ],
)
def test_runtime_role_cannot_switch_rls_off(db: None, tenant: Tenant, statement: str) -> None:
    # SET row_security = off itself succeeds; the query after it then fails, because
    # the role may not bypass RLS. The other statements fail at once.
    sql = f"{statement}; SELECT count(*) FROM tenants_auditevent"
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
