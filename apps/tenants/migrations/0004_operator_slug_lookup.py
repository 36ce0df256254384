"""Let trusted operator code find a tenant row by its slug.

Management commands run as the runtime role under RLS and know a tenant by its slug,
not its id. The owner role cannot help: RLS is FORCEd, so it is filtered too. This
adds one SELECT-only policy: with ``app.operator_tenant_slug`` set, the tenant row with
that slug (id, name, slug, plan) is readable, and nothing else: no members, keys or
other rows. Only ``selectors.tenant_by_slug_for_operator`` sets it; the web path never does.
"""

from django.db import migrations

SLUG_EXPR = "NULLIF(current_setting('app.operator_tenant_slug', true), '')"


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_api_key_audit_actions"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE POLICY operator_slug ON tenants_tenant FOR SELECT USING (slug = {SLUG_EXPR})",
            "DROP POLICY IF EXISTS operator_slug ON tenants_tenant",
        ),
    ]
