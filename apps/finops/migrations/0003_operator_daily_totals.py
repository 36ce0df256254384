"""The operator console's own daily totals, and its four functions rewritten over them.

Migration 0002's functions scanned every tenant's daily rollups (one row per feature,
model, user and API key a day) for each page view: seconds at 1,000 tenants. Two coarser
tables, kept by the same drain statement as the rollups (``apps/finops/rollups.py``), hold
what the console needs and nothing more:

- ``finops_dailyfeaturetotal``: per tenant, UTC day and feature, calls, tokens, cost, and
  the part of the tokens and cost made by signed-in users (the cost model);
- ``finops_dailyactiveuser``: one row per tenant, day and user who made a call that day
  (user-days and active users are counts over it).

Both are tenant data, under FORCEd row-level security with the usual ``tenant_isolation``
policy (the drain writes them in the tenant's context; a tenant could read its own rows,
which are sums of rollup rows it can read already). Across tenants they are read only by
the functions, through the owner-only ``operator_read`` policy exactly as in 0002. The
rollups lose that policy and the index 0002 added for the functions: nothing reads them
across tenants any more.

The functions keep their arguments, checks and audit row; their queries change, and
``finops_operator_units`` drops a column the console never read (distinct active users
over 30 days: the costliest part of its query).
The migration fills both tables from the existing daily rollups (ledger rows still queued
are added by the next drain, to all three tables at once).
"""

import importlib
import uuid
from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.rls import EnableRLS

NEW_TABLES = ("finops_dailyfeaturetotal", "finops_dailyactiveuser")
OFF = "PERFORM set_config('app.operator_read', '', true);"
HEADER = (
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp "
    "SET work_mem = '64MB' AS $$"
)

# Every column is qualified: the functions' output columns (tenant_id, day, feature,
# calls, ...) are PL/pgSQL variables and would otherwise be ambiguous.
TENANTS = f"""
CREATE OR REPLACE FUNCTION finops_operator_tenants(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz,
    p_prev_since timestamptz, p_prev_until timestamptz
) RETURNS TABLE (
    tenant_id uuid, name text, slug text, plan text, cost_usd numeric, prev_cost_usd numeric,
    calls bigint, tokens bigint, active_users bigint, revenue_cents bigint
)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'tenants', p_prev_since, p_until);
    RETURN QUERY
    WITH cur AS (
        SELECT f.tenant_id, sum(f.cost_usd) AS cost, sum(f.calls) AS calls,
               sum(f.tokens_in + f.tokens_out) AS tokens
        FROM finops_dailyfeaturetotal f
        WHERE f.day >= p_since AND f.day < p_until
        GROUP BY f.tenant_id
    ), active AS (
        SELECT d.tenant_id, count(*) AS n
        FROM (
            SELECT DISTINCT a.tenant_id, a.user_id
            FROM finops_dailyactiveuser a
            WHERE a.day >= p_since AND a.day < p_until
        ) AS d
        GROUP BY d.tenant_id
    ), prev AS (
        SELECT f.tenant_id, sum(f.cost_usd) AS cost
        FROM finops_dailyfeaturetotal f
        WHERE f.day >= p_prev_since AND f.day < p_prev_until
        GROUP BY f.tenant_id
    ), rev AS (
        SELECT i.tenant_id, sum(i.amount_paid_cents) AS cents
        FROM billing_invoicerecord i
        WHERE i.status = 'paid' AND i.paid_at >= p_since AND i.paid_at < p_until
        GROUP BY i.tenant_id
    )
    SELECT t.id, t.name::text, t.slug::text, t.plan::text,
           coalesce(cur.cost, 0), coalesce(prev.cost, 0),
           coalesce(cur.calls, 0)::bigint, coalesce(cur.tokens, 0)::bigint,
           coalesce(active.n, 0)::bigint, coalesce(rev.cents, 0)::bigint
    FROM tenants_tenant t
    LEFT JOIN cur ON cur.tenant_id = t.id
    LEFT JOIN active ON active.tenant_id = t.id
    LEFT JOIN prev ON prev.tenant_id = t.id
    LEFT JOIN rev ON rev.tenant_id = t.id
    ORDER BY coalesce(cur.cost, 0) DESC, t.name;
    {OFF}
END $$;
"""

FEATURES = f"""
CREATE OR REPLACE FUNCTION finops_operator_features(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (feature text, calls bigint, tokens bigint, cost_usd numeric, tenants bigint)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'features', p_since, p_until);
    RETURN QUERY
    SELECT f.feature::text, sum(f.calls)::bigint, sum(f.tokens_in + f.tokens_out)::bigint,
           sum(f.cost_usd), count(DISTINCT f.tenant_id)::bigint
    FROM finops_dailyfeaturetotal f
    WHERE f.day >= p_since AND f.day < p_until
    GROUP BY f.feature
    ORDER BY sum(f.cost_usd) DESC;
    {OFF}
END $$;
"""

# The cost model needs user-days, not distinct users: 0002's ``active_users`` column
# (never read by the console) cost a grouping of every user-day of 30 days, so the
# function is re-created without it (``UNITS_SIGNATURE``; EXECUTE granted again).
UNITS = f"""
CREATE FUNCTION finops_operator_units(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (
    user_days bigint, user_tokens bigint, user_cost_usd numeric,
    all_tokens bigint, all_cost_usd numeric
)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'units', p_since, p_until);
    RETURN QUERY
    SELECT (SELECT count(*)
            FROM finops_dailyactiveuser a
            WHERE a.day >= p_since AND a.day < p_until)::bigint,
           coalesce(sum(f.user_tokens), 0)::bigint,
           coalesce(sum(f.user_cost_usd), 0),
           coalesce(sum(f.tokens_in + f.tokens_out), 0)::bigint,
           coalesce(sum(f.cost_usd), 0)
    FROM finops_dailyfeaturetotal f
    WHERE f.day >= p_since AND f.day < p_until;
    {OFF}
END $$;
"""
UNITS_SIGNATURE = "finops_operator_units(bigint, text, timestamptz, timestamptz)"

DAILY = f"""
CREATE OR REPLACE FUNCTION finops_operator_daily(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (day timestamptz, cost_usd numeric, calls bigint)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'daily', p_since, p_until);
    RETURN QUERY
    SELECT f.day, sum(f.cost_usd), sum(f.calls)::bigint
    FROM finops_dailyfeaturetotal f
    WHERE f.day >= p_since AND f.day < p_until
    GROUP BY f.day
    ORDER BY f.day;
    {OFF}
END $$;
"""

# History: the new tables are the daily rollups summed. The owner is filtered by the
# FORCEd policies, so the three tables are un-forced for these statements only, inside the
# migration's transaction (the ALTERs lock them until it commits: a drain waits, then
# writes all three).
FILL_FEATURES = """
INSERT INTO finops_dailyfeaturetotal
    (id, tenant_id, created_at, updated_at, day, feature, calls, tokens_in, tokens_out,
     cost_usd, user_tokens, user_cost_usd)
SELECT gen_random_uuid(), r.tenant_id, now(), now(), r.bucket, r.feature,
       sum(r.calls), sum(r.tokens_in), sum(r.tokens_out), sum(r.cost_usd),
       coalesce(sum(r.tokens_in + r.tokens_out) FILTER (WHERE r.user_id IS NOT NULL), 0),
       coalesce(sum(r.cost_usd) FILTER (WHERE r.user_id IS NOT NULL), 0)
FROM finops_usagerollup r
WHERE r.period = 'day'
GROUP BY r.tenant_id, r.bucket, r.feature
"""
FILL_USERS = """
INSERT INTO finops_dailyactiveuser (id, tenant_id, created_at, updated_at, day, user_id)
SELECT gen_random_uuid(), r.tenant_id, now(), now(), r.bucket, r.user_id
FROM finops_usagerollup r
WHERE r.period = 'day' AND r.user_id IS NOT NULL
GROUP BY r.tenant_id, r.bucket, r.user_id
"""
BACKFILL_TABLES = ("finops_usagerollup", *NEW_TABLES)

OPERATOR_POLICY = (
    "CREATE POLICY operator_read ON {table} FOR SELECT TO CURRENT_USER "
    # A sub-select is evaluated once per query (an InitPlan), not once per row.
    "USING ((SELECT current_setting('app.operator_read', true)) = 'on')"
)


def _units(schema_editor, sql):
    runtime = schema_editor.connection.ops.quote_name(settings.DATABASE_RUNTIME_ROLE)
    schema_editor.execute(f"DROP FUNCTION {UNITS_SIGNATURE}")
    schema_editor.execute(sql, params=None)
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {UNITS_SIGNATURE} FROM PUBLIC")
    schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {UNITS_SIGNATURE} TO {runtime}")


def forwards(apps, schema_editor):
    for table in NEW_TABLES:
        schema_editor.execute(OPERATOR_POLICY.format(table=table))
    for sql in (TENANTS, FEATURES, DAILY):
        schema_editor.execute(sql, params=None)
    _units(schema_editor, UNITS)
    schema_editor.execute("DROP POLICY operator_read ON finops_usagerollup")
    schema_editor.execute("DROP INDEX finops_rollup_period_bucket")
    for table in BACKFILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    schema_editor.execute(FILL_FEATURES)
    schema_editor.execute(FILL_USERS)
    for table in BACKFILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def backwards(apps, schema_editor):
    # 0002's functions, as they were (its SQL creates them; here they replace ours).
    previous = importlib.import_module("apps.finops.migrations.0002_operator_reads")
    schema_editor.execute(
        "CREATE INDEX finops_rollup_period_bucket ON finops_usagerollup (period, bucket)"
    )
    schema_editor.execute(OPERATOR_POLICY.format(table="finops_usagerollup"))
    for sql in (previous.TENANTS, previous.FEATURES, previous.DAILY):
        schema_editor.execute(
            sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"), params=None
        )
    _units(schema_editor, previous.UNITS)
    for table in NEW_TABLES:
        schema_editor.execute(f"DROP POLICY IF EXISTS operator_read ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("finops", "0002_operator_reads"),
        ("tenants", "0008_alert_webhooks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyFeatureTotal",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("day", models.DateTimeField()),
                ("feature", models.CharField(max_length=40)),
                ("calls", models.BigIntegerField(default=0)),
                ("tokens_in", models.BigIntegerField(default=0)),
                ("tokens_out", models.BigIntegerField(default=0)),
                (
                    "cost_usd",
                    models.DecimalField(decimal_places=8, default=Decimal(0), max_digits=18),
                ),
                ("user_tokens", models.BigIntegerField(default=0)),
                (
                    "user_cost_usd",
                    models.DecimalField(decimal_places=8, default=Decimal(0), max_digits=18),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "tenant", "feature"), name="finops_feature_day_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="DailyActiveUser",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("day", models.DateTimeField()),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "tenant", "user"), name="finops_active_user_key"
                    )
                ],
            },
        ),
        EnableRLS("dailyfeaturetotal"),
        EnableRLS("dailyactiveuser"),
        migrations.RunPython(forwards, backwards),
    ]
