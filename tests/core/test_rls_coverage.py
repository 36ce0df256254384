"""Every table that holds tenant data is under RLS, discovered from the live schema so
that a new table without ``EnableRLS`` fails here."""

from __future__ import annotations

from django.db import connection


def test_every_tenant_table_has_rls_enabled_and_forced(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            WHERE c.relkind = 'r'
              AND (c.relname = 'tenants_tenant' OR EXISTS (
                   SELECT 1 FROM information_schema.columns col
                   WHERE col.table_schema = 'public' AND col.table_name = c.relname
                     AND col.column_name = 'tenant_id'))
            ORDER BY c.relname
            """
        )
        rows = cursor.fetchall()
    tables = {name for name, *_ in rows}
    assert {
        "tenants_tenant",
        "tenants_membership",
        "tenants_invitation",
        "tenants_auditevent",
        "gateway_aisettings",
    } <= tables
    unprotected = [
        name
        for name, enabled, forced, policies in rows
        if not (enabled and forced and policies >= 1)
    ]
    assert unprotected == []
