"""The operator console at the month's end: per-tenant day totals and month tables, and
the four operator functions rewritten over them.

Over migration 0003's tables the month-to-date figures grew with the day of the month: on
the 30th, ``finops_operator_tenants`` summed a month of feature-day rows twice (this month
and the trend's) and grouped a month of user-days for the distinct active users, and
``finops_operator_features`` sorted a month of feature-day rows. Three coarser tables,
kept by the same drain statement (``apps/finops/rollups.py``):

- ``finops_dailytenanttotal``: per tenant and UTC day, calls, tokens, cost, the signed-in
  users' part of them and ``user_days`` (how many users called that day): the feature-day
  totals summed over features;
- ``finops_monthlyfeaturetotal``: per tenant, UTC month and feature, calls, tokens, cost;
- ``finops_monthlyactiveuser``: per tenant, UTC month and user, the first day of the
  month the user called on.

A range from the first of a month to a moment in it (the console's month to date) reads
the month tables: the month's totals less the day rows after the range (none when it ends
now), and the month's users whose first day is before its end. Any other range reads day
rows, as before. ``units`` and ``daily`` read the tenant-day totals (a quarter of the rows
with four features; the cost model's user-days become a sum).

The tables are tenant data under FORCEd row-level security (``tenant_isolation``; a
tenant could read its own rows, sums of rollups it can read already) and are read across
tenants only by the functions, through the owner-only ``operator_read`` policy, as in 0003.
The functions keep their arguments, results, checks and audit row. The migration fills
the tables from 0003's (ledger rows still queued are added by the next drain).
"""

import importlib
import uuid
from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.rls import EnableRLS

NEW_TABLES = ("finops_dailytenanttotal", "finops_monthlyfeaturetotal", "finops_monthlyactiveuser")
OFF = "PERFORM set_config('app.operator_read', '', true);"
HEADER = (
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp "
    "SET work_mem = '64MB' AS $$"
)

# Every column is qualified: the functions' output columns are PL/pgSQL variables.
#
# A range from the first of a month to a moment in it (the console's month to date) is
# read from the month tables: the month's rows, less the day rows from the end of the
# range to the end of the month (none when the range ends now). Both are kept by the same
# drain statement, so the difference is exact. Any other range reads the day rows. Each
# part is gated by ``v_month`` alone, so only the parts that apply run.
MONTH_VARS = """
    v_month_end timestamptz := ((p_since AT TIME ZONE 'UTC') + interval '1 month')
        AT TIME ZONE 'UTC';
    v_month boolean := p_since = date_trunc('month', p_since, 'UTC')
        AND p_until <= v_month_end;
"""
TENANTS = f"""
CREATE OR REPLACE FUNCTION finops_operator_tenants(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz,
    p_prev_since timestamptz, p_prev_until timestamptz
) RETURNS TABLE (
    tenant_id uuid, name text, slug text, plan text, cost_usd numeric, prev_cost_usd numeric,
    calls bigint, tokens bigint, active_users bigint, revenue_cents bigint
)
{HEADER}
DECLARE{MONTH_VARS}BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'tenants', p_prev_since, p_until);
    RETURN QUERY
    WITH parts AS (
        SELECT m.tenant_id, m.cost_usd AS cost, m.calls, m.tokens_in + m.tokens_out AS tokens
        FROM finops_monthlyfeaturetotal m
        WHERE v_month AND m.month = p_since
        UNION ALL
        SELECT d.tenant_id, -d.cost_usd, -d.calls, -(d.tokens_in + d.tokens_out)
        FROM finops_dailytenanttotal d
        WHERE v_month AND d.day >= p_until AND d.day < v_month_end
        UNION ALL
        SELECT d.tenant_id, d.cost_usd, d.calls, d.tokens_in + d.tokens_out
        FROM finops_dailytenanttotal d
        WHERE NOT v_month AND d.day >= p_since AND d.day < p_until
    ), cur AS (
        SELECT p.tenant_id, sum(p.cost) AS cost, sum(p.calls) AS calls,
               sum(p.tokens) AS tokens
        FROM parts p
        GROUP BY p.tenant_id
    ), active AS (
        SELECT m.tenant_id, count(*) AS n
        FROM finops_monthlyactiveuser m
        WHERE v_month AND m.month = p_since AND m.first_day < p_until
        GROUP BY m.tenant_id
        UNION ALL
        SELECT u.tenant_id, count(*) AS n
        FROM (
            SELECT DISTINCT a.tenant_id, a.user_id
            FROM finops_dailyactiveuser a
            WHERE NOT v_month AND a.day >= p_since AND a.day < p_until
        ) AS u
        GROUP BY u.tenant_id
    ), prev AS (
        SELECT d.tenant_id, sum(d.cost_usd) AS cost
        FROM finops_dailytenanttotal d
        WHERE d.day >= p_prev_since AND d.day < p_prev_until
        GROUP BY d.tenant_id
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

UNITS = f"""
CREATE OR REPLACE FUNCTION finops_operator_units(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (
    user_days bigint, user_tokens bigint, user_cost_usd numeric,
    all_tokens bigint, all_cost_usd numeric
)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'units', p_since, p_until);
    RETURN QUERY
    SELECT coalesce(sum(d.user_days), 0)::bigint,
           coalesce(sum(d.user_tokens), 0)::bigint,
           coalesce(sum(d.user_cost_usd), 0),
           coalesce(sum(d.tokens_in + d.tokens_out), 0)::bigint,
           coalesce(sum(d.cost_usd), 0)
    FROM finops_dailytenanttotal d
    WHERE d.day >= p_since AND d.day < p_until;
    {OFF}
END $$;
"""

DAILY = f"""
CREATE OR REPLACE FUNCTION finops_operator_daily(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (day timestamptz, cost_usd numeric, calls bigint)
{HEADER}
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'daily', p_since, p_until);
    RETURN QUERY
    SELECT d.day, sum(d.cost_usd), sum(d.calls)::bigint
    FROM finops_dailytenanttotal d
    WHERE d.day >= p_since AND d.day < p_until
    GROUP BY d.day
    ORDER BY d.day;
    {OFF}
END $$;
"""

# Cost by feature adds per (feature, tenant) first and counts the tenants after (a tenant
# whose calls in the range add up to none is not counted), with hashing rather than
# sorting: the planner expects about 0.5% of the rows to pass the row-level security
# filter (the operator policy's setting is unknown to it), so it would sort every row by
# feature (a collated text sort) and again inside count(DISTINCT): 72-108 ms against
# 36-44 ms over 36,000 feature-day rows. ``enable_sort`` is off for this function only;
# the final ORDER BY of a few rows still sorts.
FEATURES = f"""
CREATE OR REPLACE FUNCTION finops_operator_features(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (feature text, calls bigint, tokens bigint, cost_usd numeric, tenants bigint)
{HEADER.replace(" AS $$", " SET enable_sort = off AS $$")}
DECLARE{MONTH_VARS}BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'features', p_since, p_until);
    RETURN QUERY
    WITH parts AS (
        SELECT m.feature, m.tenant_id, m.calls, m.tokens_in + m.tokens_out AS tokens,
               m.cost_usd AS cost
        FROM finops_monthlyfeaturetotal m
        WHERE v_month AND m.month = p_since
        UNION ALL
        SELECT f.feature, f.tenant_id, -f.calls, -(f.tokens_in + f.tokens_out), -f.cost_usd
        FROM finops_dailyfeaturetotal f
        WHERE v_month AND f.day >= p_until AND f.day < v_month_end
        UNION ALL
        SELECT f.feature, f.tenant_id, f.calls, f.tokens_in + f.tokens_out, f.cost_usd
        FROM finops_dailyfeaturetotal f
        WHERE NOT v_month AND f.day >= p_since AND f.day < p_until
    ), g AS (
        SELECT p.feature, p.tenant_id, sum(p.calls) AS calls, sum(p.tokens) AS tokens,
               sum(p.cost) AS cost
        FROM parts p
        GROUP BY p.feature, p.tenant_id
        HAVING sum(p.calls) > 0
    )
    SELECT g.feature::text, sum(g.calls)::bigint, sum(g.tokens)::bigint, sum(g.cost),
           count(*)::bigint
    FROM g
    GROUP BY g.feature
    ORDER BY sum(g.cost) DESC;
    {OFF}
END $$;
"""

# History, from 0003's tables (exactly what the drain would have written). The owner is
# filtered by the FORCEd policies, so the tables are un-forced for these statements only,
# inside the migration's transaction (a drain waits for it, then writes all of them).
FILL_TENANT_DAYS = """
INSERT INTO finops_dailytenanttotal
    (id, tenant_id, created_at, updated_at, day, calls, tokens_in, tokens_out, cost_usd,
     user_tokens, user_cost_usd, user_days)
SELECT gen_random_uuid(), f.tenant_id, now(), now(), f.day, sum(f.calls),
       sum(f.tokens_in), sum(f.tokens_out), sum(f.cost_usd), sum(f.user_tokens),
       sum(f.user_cost_usd),
       coalesce((SELECT count(*) FROM finops_dailyactiveuser a
                 WHERE a.tenant_id = f.tenant_id AND a.day = f.day), 0)
FROM finops_dailyfeaturetotal f
GROUP BY f.tenant_id, f.day
"""
FILL_MONTH_FEATURES = """
INSERT INTO finops_monthlyfeaturetotal
    (id, tenant_id, created_at, updated_at, month, feature, calls, tokens_in, tokens_out,
     cost_usd)
SELECT gen_random_uuid(), f.tenant_id, now(), now(), date_trunc('month', f.day, 'UTC'),
       f.feature, sum(f.calls), sum(f.tokens_in), sum(f.tokens_out), sum(f.cost_usd)
FROM finops_dailyfeaturetotal f
GROUP BY f.tenant_id, date_trunc('month', f.day, 'UTC'), f.feature
"""
FILL_MONTH_USERS = """
INSERT INTO finops_monthlyactiveuser
    (id, tenant_id, created_at, updated_at, month, user_id, first_day)
SELECT gen_random_uuid(), a.tenant_id, now(), now(), date_trunc('month', a.day, 'UTC'),
       a.user_id, min(a.day)
FROM finops_dailyactiveuser a
GROUP BY a.tenant_id, date_trunc('month', a.day, 'UTC'), a.user_id
"""
BACKFILL_TABLES = ("finops_dailyfeaturetotal", "finops_dailyactiveuser", *NEW_TABLES)

OPERATOR_POLICY = (
    "CREATE POLICY operator_read ON {table} FOR SELECT TO CURRENT_USER "
    # A sub-select is evaluated once per query (an InitPlan), not once per row.
    "USING ((SELECT current_setting('app.operator_read', true)) = 'on')"
)


def forwards(apps, schema_editor):
    for table in NEW_TABLES:
        schema_editor.execute(OPERATOR_POLICY.format(table=table))
    for sql in (TENANTS, FEATURES, UNITS, DAILY):
        schema_editor.execute(sql, params=None)
    for table in BACKFILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    schema_editor.execute(FILL_TENANT_DAYS)
    schema_editor.execute(FILL_MONTH_FEATURES)
    schema_editor.execute(FILL_MONTH_USERS)
    for table in BACKFILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def backwards(apps, schema_editor):
    # 0003's functions, as they were (same arguments and results: replaced in place).
    previous = importlib.import_module("apps.finops.migrations.0003_operator_daily_totals")
    for sql in (previous.TENANTS, previous.FEATURES, previous.DAILY):
        schema_editor.execute(sql, params=None)
    schema_editor.execute(
        previous.UNITS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"), params=None
    )
    for table in NEW_TABLES:
        schema_editor.execute(f"DROP POLICY IF EXISTS operator_read ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("finops", "0003_operator_daily_totals"),
        ("tenants", "0008_alert_webhooks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyTenantTotal",
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
                ("calls", models.BigIntegerField(default=0)),
                ("tokens_in", models.BigIntegerField(default=0)),
                ("tokens_out", models.BigIntegerField(default=0)),
                (
                    "cost_usd",
                    models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=18),
                ),
                ("user_tokens", models.BigIntegerField(default=0)),
                (
                    "user_cost_usd",
                    models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=18),
                ),
                ("user_days", models.BigIntegerField(default=0)),
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
                    models.UniqueConstraint(fields=("day", "tenant"), name="finops_tenant_day_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="MonthlyActiveUser",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("month", models.DateTimeField()),
                ("first_day", models.DateTimeField()),
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
                        fields=("month", "tenant", "user"), name="finops_month_user_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MonthlyFeatureTotal",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("month", models.DateTimeField()),
                ("feature", models.CharField(max_length=40)),
                ("calls", models.BigIntegerField(default=0)),
                ("tokens_in", models.BigIntegerField(default=0)),
                ("tokens_out", models.BigIntegerField(default=0)),
                (
                    "cost_usd",
                    models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=18),
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
                        fields=("month", "tenant", "feature"), name="finops_month_feature_key"
                    )
                ],
            },
        ),
        EnableRLS("dailytenanttotal"),
        EnableRLS("monthlyfeaturetotal"),
        EnableRLS("monthlyactiveuser"),
        migrations.RunPython(forwards, backwards),
    ]
