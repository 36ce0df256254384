"""Migration operations that put a table under PostgreSQL row-level security.

Every table holding a tenant's data gets, in the migration that creates it::

    EnableRLS("conversation")

which enables and FORCEs RLS (so even the table owner is filtered) and creates the
policy ``tenant_isolation``: a row is visible and writable only when its tenant
column equals the transaction's ``app.tenant_id``. No setting means no rows.
``read_also`` adds a permissive SELECT-only policy for the rare table that must be
readable by another key (a user's own memberships, an invitation by its token).
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

TENANT_EXPR = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
USER_EXPR = "NULLIF(current_setting('app.user_id', true), '')::bigint"


class EnableRLS(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(
        self, model_name: str, *, tenant_column: str = "tenant_id", read_also: str | None = None
    ) -> None:
        self.model_name = model_name
        self.tenant_column = tenant_column
        self.read_also = read_also

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if self.tenant_column != "tenant_id":
            kwargs["tenant_column"] = self.tenant_column
        if self.read_also:
            kwargs["read_also"] = self.read_also
        return self.__class__.__name__, [self.model_name], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # The model state does not change; only the database does.

    def _table(self, app_label: str, state: Any) -> str:
        return str(state.apps.get_model(app_label, self.model_name)._meta.db_table)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = schema_editor.quote_name(self._table(app_label, to_state))
        column = schema_editor.quote_name(self.tenant_column)
        statements = [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = {TENANT_EXPR}) WITH CHECK ({column} = {TENANT_EXPR})",
        ]
        if self.read_also:
            statements.append(
                f"CREATE POLICY read_also ON {table} FOR SELECT USING ({self.read_also})"
            )
        for sql in statements:
            schema_editor.execute(sql)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = schema_editor.quote_name(self._table(app_label, from_state))
        schema_editor.execute(f"DROP POLICY IF EXISTS read_also ON {table}")
        schema_editor.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rls_{self.model_name.lower()}"
