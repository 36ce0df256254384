"""The operator console's one way across tenants: SECURITY DEFINER functions, audited.

The runtime role stays under row-level security (it never gets BYPASSRLS, and no policy
of its own opens other tenants' rows). Instead, four SQL functions owned by the owner
role read the rollups, the revenue record and the tenant list for every tenant:

- ``finops_operator_tenants``: per tenant, LLM cost, calls, tokens and active users in a
  range and cost in a previous range (the trend), revenue paid in the range, plan;
- ``finops_operator_features``: cost by feature across tenants;
- ``finops_operator_units``: the figures of the cost model (user-days, tokens, cost);
- ``finops_operator_daily``: the platform's cost per day.

Each call first runs ``finops_operator_check``: the actor must be an active staff user
(or, with no user, a reason naming a job: ``job:margin_alerts``), the range sane; it
writes one ``finops_operatorread`` row. The runtime role may EXECUTE the four functions
and SELECT the audit table, nothing more: it cannot write or erase an audit row.

Row-level security is FORCEd, so even the owner is filtered. Each function turns on
``app.operator_read`` for itself, and a SELECT-only policy for the OWNER ROLE ONLY lets
rows through while it is on; the runtime role setting it gains nothing (the policy is
not for it). The function turns it off again before it returns.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

READ_TABLES = ("finops_usagerollup", "billing_invoicerecord", "tenants_tenant")

CHECK = """
CREATE FUNCTION finops_operator_check(
    p_actor bigint, p_reason text, p_function text, p_since timestamptz, p_until timestamptz
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
BEGIN
    IF p_actor IS NOT NULL THEN
        IF NOT EXISTS (
            SELECT 1 FROM accounts_user WHERE id = p_actor AND is_staff AND is_active
        ) THEN
            RAISE EXCEPTION 'operator reads are for active staff users only'
                USING ERRCODE = '42501';
        END IF;
    ELSIF coalesce(p_reason, '') NOT LIKE 'job:%' THEN
        RAISE EXCEPTION 'an operator read names a staff user or a job (job:<name>)'
            USING ERRCODE = '42501';
    END IF;
    IF p_since IS NULL OR p_until IS NULL OR p_until <= p_since
            OR p_until - p_since > interval '400 days' THEN
        RAISE EXCEPTION 'operator reads take a range of at most 400 days'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO finops_operatorread (at, actor_id, reason, function, since, until)
    VALUES (now(), p_actor, left(coalesce(p_reason, ''), 80), p_function, p_since, p_until);
    PERFORM set_config('app.operator_read', 'on', true);
END $$;
"""

OFF = "PERFORM set_config('app.operator_read', '', true);"

TENANTS = f"""
CREATE FUNCTION finops_operator_tenants(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz,
    p_prev_since timestamptz, p_prev_until timestamptz
) RETURNS TABLE (
    tenant_id uuid, name text, slug text, plan text, cost_usd numeric, prev_cost_usd numeric,
    calls bigint, tokens bigint, active_users bigint, revenue_cents bigint
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'tenants', p_prev_since, p_until);
    RETURN QUERY
    WITH cur AS (
        SELECT r.tenant_id, sum(r.cost_usd) AS cost, sum(r.calls) AS calls,
               sum(r.tokens_in + r.tokens_out) AS tokens, count(DISTINCT r.user_id) AS users
        FROM finops_usagerollup r
        WHERE r.period = 'day' AND r.bucket >= p_since AND r.bucket < p_until
        GROUP BY r.tenant_id
    ), prev AS (
        SELECT r.tenant_id, sum(r.cost_usd) AS cost
        FROM finops_usagerollup r
        WHERE r.period = 'day' AND r.bucket >= p_prev_since AND r.bucket < p_prev_until
        GROUP BY r.tenant_id
    ), rev AS (
        SELECT i.tenant_id, sum(i.amount_paid_cents) AS cents
        FROM billing_invoicerecord i
        WHERE i.status = 'paid' AND i.paid_at >= p_since AND i.paid_at < p_until
        GROUP BY i.tenant_id
    )
    SELECT t.id, t.name::text, t.slug::text, t.plan::text,
           coalesce(cur.cost, 0), coalesce(prev.cost, 0),
           coalesce(cur.calls, 0)::bigint, coalesce(cur.tokens, 0)::bigint,
           coalesce(cur.users, 0)::bigint, coalesce(rev.cents, 0)::bigint
    FROM tenants_tenant t
    LEFT JOIN cur ON cur.tenant_id = t.id
    LEFT JOIN prev ON prev.tenant_id = t.id
    LEFT JOIN rev ON rev.tenant_id = t.id
    ORDER BY coalesce(cur.cost, 0) DESC, t.name;
    {OFF}
END $$;
"""

FEATURES = f"""
CREATE FUNCTION finops_operator_features(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (feature text, calls bigint, tokens bigint, cost_usd numeric, tenants bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'features', p_since, p_until);
    RETURN QUERY
    SELECT r.feature::text, sum(r.calls)::bigint, sum(r.tokens_in + r.tokens_out)::bigint,
           sum(r.cost_usd), count(DISTINCT r.tenant_id)::bigint
    FROM finops_usagerollup r
    WHERE r.period = 'day' AND r.bucket >= p_since AND r.bucket < p_until
    GROUP BY r.feature
    ORDER BY sum(r.cost_usd) DESC;
    {OFF}
END $$;
"""

UNITS = f"""
CREATE FUNCTION finops_operator_units(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (
    user_days bigint, active_users bigint, user_tokens bigint, user_cost_usd numeric,
    all_tokens bigint, all_cost_usd numeric
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'units', p_since, p_until);
    RETURN QUERY
    WITH per AS (  -- one row per tenant, user (or none) and day: a hash aggregate
        SELECT r.tenant_id, r.user_id, r.bucket,
               sum(r.tokens_in + r.tokens_out) AS tokens, sum(r.cost_usd) AS cost
        FROM finops_usagerollup r
        WHERE r.period = 'day' AND r.bucket >= p_since AND r.bucket < p_until
        GROUP BY r.tenant_id, r.user_id, r.bucket
    )
    SELECT count(*) FILTER (WHERE per.user_id IS NOT NULL)::bigint,
           (SELECT count(*) FROM (
                SELECT DISTINCT p.tenant_id, p.user_id FROM per p WHERE p.user_id IS NOT NULL
           ) AS users)::bigint,
           coalesce(sum(per.tokens) FILTER (WHERE per.user_id IS NOT NULL), 0)::bigint,
           coalesce(sum(per.cost) FILTER (WHERE per.user_id IS NOT NULL), 0),
           coalesce(sum(per.tokens), 0)::bigint,
           coalesce(sum(per.cost), 0)
    FROM per;
    {OFF}
END $$;
"""

DAILY = f"""
CREATE FUNCTION finops_operator_daily(
    p_actor bigint, p_reason text, p_since timestamptz, p_until timestamptz
) RETURNS TABLE (day timestamptz, cost_usd numeric, calls bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '64MB' AS $$
BEGIN
    PERFORM finops_operator_check(p_actor, p_reason, 'daily', p_since, p_until);
    RETURN QUERY
    SELECT r.bucket, sum(r.cost_usd), sum(r.calls)::bigint
    FROM finops_usagerollup r
    WHERE r.period = 'day' AND r.bucket >= p_since AND r.bucket < p_until
    GROUP BY r.bucket
    ORDER BY r.bucket;
    {OFF}
END $$;
"""

SIGNATURES = {
    "finops_operator_tenants": "bigint, text, timestamptz, timestamptz, timestamptz, timestamptz",
    "finops_operator_features": "bigint, text, timestamptz, timestamptz",
    "finops_operator_units": "bigint, text, timestamptz, timestamptz",
    "finops_operator_daily": "bigint, text, timestamptz, timestamptz",
}
CHECK_SIGNATURE = "finops_operator_check(bigint, text, text, timestamptz, timestamptz)"


def create(apps, schema_editor):
    quote = schema_editor.connection.ops.quote_name
    runtime = quote(settings.DATABASE_RUNTIME_ROLE)
    # The operator's reads scan one date range across every tenant; the rollups' own key
    # starts with the tenant. Its columns never change in the rollup's upsert (HOT stays).
    schema_editor.execute(
        "CREATE INDEX finops_rollup_period_bucket ON finops_usagerollup (period, bucket)"
    )
    for table in READ_TABLES:
        schema_editor.execute(
            f"CREATE POLICY operator_read ON {table} FOR SELECT TO CURRENT_USER "
            # A sub-select is evaluated once per query (an InitPlan), not once per row.
            "USING ((SELECT current_setting('app.operator_read', true)) = 'on')"
        )
    for sql in (CHECK, TENANTS, FEATURES, UNITS, DAILY):
        schema_editor.execute(sql, params=None)  # no placeholders: LIKE 'job:%' is SQL
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {CHECK_SIGNATURE} FROM PUBLIC")
    for name, arguments in SIGNATURES.items():
        schema_editor.execute(f"REVOKE ALL ON FUNCTION {name}({arguments}) FROM PUBLIC")
        schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {name}({arguments}) TO {runtime}")
    # The audit trail: readable by the web role (the console shows it), never writable.
    schema_editor.execute(f"REVOKE INSERT, UPDATE, DELETE ON finops_operatorread FROM {runtime}")


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS finops_rollup_period_bucket")
    for name, arguments in SIGNATURES.items():
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}({arguments})")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {CHECK_SIGNATURE}")
    for table in READ_TABLES:
        schema_editor.execute(f"DROP POLICY IF EXISTS operator_read ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("finops", "0001_rollups"),
        ("billing", "0003_invoice_records"),
        ("tenants", "0008_alert_webhooks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OperatorRead",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("at", models.DateTimeField()),
                ("reason", models.CharField(max_length=80)),
                ("function", models.CharField(max_length=80)),
                ("since", models.DateTimeField()),
                ("until", models.DateTimeField()),
                (
                    "actor",
                    models.ForeignKey(
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ("-at",)},
        ),
        migrations.RunPython(create, drop),
    ]
