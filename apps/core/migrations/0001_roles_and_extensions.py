"""Grant the runtime role what it needs, and nothing more.

Runs before any app's first table so that the default privileges cover every table
the owner role creates from here on: the runtime role may read and write rows (RLS
still filters them), never owns, alters or truncates a table.
"""

from django.conf import settings
from django.db import migrations


def grant_runtime_role(apps, schema_editor):
    conn = schema_editor.connection
    runtime = conn.ops.quote_name(settings.DATABASE_RUNTIME_ROLE)
    if conn.settings_dict["USER"] == settings.DATABASE_RUNTIME_ROLE:
        # Migrating as the runtime role would make it the owner of every table and
        # defeat row-level security.
        raise RuntimeError(
            "Migrations must run as the owner role (DATABASE_OWNER_URL), not the runtime role."
        )
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.DATABASE_RUNTIME_ROLE]
        )
        if cursor.fetchone() is None:
            raise RuntimeError(
                f"The runtime role {settings.DATABASE_RUNTIME_ROLE!r} does not exist; "
                "create it (NOSUPERUSER NOBYPASSRLS LOGIN) before migrating."
            )
    schema_editor.execute(f"GRANT USAGE ON SCHEMA public TO {runtime}")
    schema_editor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {runtime}"
    )
    schema_editor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {runtime}"
    )
    schema_editor.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {runtime}"
    )
    schema_editor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {runtime}")


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    run_before = [("contenttypes", "0001_initial"), ("auth", "0001_initial")]

    operations = [
        # Needs a superuser once per database (the devstack and docker init do it;
        # template1 carries it to new databases), a no-op afterwards.
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS vector", migrations.RunSQL.noop),
        migrations.RunPython(grant_runtime_role, migrations.RunPython.noop),
    ]
