"""The AI quality signals' daily counts (``DailyQuality``), kept by their writers.

- The ledger side (answers, stopped, errors) is added by the FinOps drain
  (``apps/finops/rollups.py``), from the ledger rows it takes off its queue.
- The answer side (chat answers, citations, ratings) is kept here, by triggers: an answer
  saved with its ledger row and citation check (``message_finish``), a check saved again,
  a rating given, changed or taken back, an answer deleted (with its conversation, or
  replaced by a regenerated one) each add their difference in their own transaction.
  Triggers, because the answer is saved on the streaming path: its one UPDATE stays one
  statement, and every writer (services, the admin, a bulk load, a cascade) is counted.

Both sides key a count by its answer's ledger row: UTC day of ``created_at``, feature,
served model (the requested one when nothing served it). The triggers run as the role
that made the change, inside its tenant context: row-level security checks their writes
like any other. The table is under FORCEd RLS (``tenant_isolation``).

The migration fills the table from what exists: the answer side from every answer and
rating, the ledger side from the ledger rows the drain has taken already (those still
queued in ``finops_pendingusage`` are added by its next run, once).
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from apps.core.rls import EnableRLS

# Answering features and statuses, as in apps/chat/quality.py and apps/gateway/models.py
# (tests/chat/test_quality_rollup.py compares the table with a query over the raw rows).
FEATURES = "('chat', 'api_chat', 'batch_summary')"

# The key of an answer's counts: its ledger row's day, feature and model.
KEY = """(u.created_at AT TIME ZONE 'UTC')::date, u.feature,
       coalesce(nullif(u.served_model, ''), u.requested_model)"""

ANSWER_COLUMNS = ("chat_answers", "cited", "citations_passed", "rated", "thumbs_up")
UPSERT = f"""
ON CONFLICT (tenant_id, day, feature, model, source) DO UPDATE SET
    updated_at = EXCLUDED.updated_at,
    {", ".join(f"{c} = chat_dailyquality.{c} + EXCLUDED.{c}" for c in ANSWER_COLUMNS)}
"""

FUNCTIONS = f"""
-- 1 when the answer cites documents, 1 when every citation passed the check
-- (apps/chat/citations.py); 0 for anything else, never an error on the streaming path.
CREATE FUNCTION chat_quality_cited(rag jsonb) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(rag -> 'citations') <> 'array' THEN 0  -- none or bad
                WHEN jsonb_array_length(rag -> 'citations') > 0 THEN 1 ELSE 0 END
$$;
CREATE FUNCTION chat_quality_passed(rag jsonb) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN chat_quality_cited(rag) = 1 AND NOT jsonb_path_exists(
                    rag, '$.citations[*] ? (@.valid == false || @.supported == false)')
                THEN 1 ELSE 0 END
$$;

-- Add (sign 1) or take back (sign -1) one answer's part: the answer, its citation check
-- and the ratings on it now, under the key of its ledger row. Nothing when the ledger
-- row is not an answer's (a title, an embedding) or is not there.
-- PL/pgSQL, not SQL: its statement's plan is cached for the session.
CREATE FUNCTION chat_quality_answer(
    p_message uuid, p_usage uuid, p_rag jsonb, p_sign int
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat_dailyquality (id, tenant_id, created_at, updated_at, day, feature, model,
                                   source, {", ".join(ANSWER_COLUMNS)})
    SELECT gen_random_uuid(), u.tenant_id, now(), now(), {KEY}, 'answers',
           p_sign, p_sign * chat_quality_cited(p_rag), p_sign * chat_quality_passed(p_rag),
           p_sign * (r.n > 0)::int, p_sign * r.up
      FROM gateway_usagerecord u,
           LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE f.rating = 'up') AS up
                      FROM chat_feedback f WHERE f.message_id = p_message) AS r
     WHERE u.id = p_usage AND u.feature IN {FEATURES}
    {UPSERT};
END
$$;

CREATE FUNCTION chat_quality_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.usage_record_id IS NOT NULL THEN
        PERFORM chat_quality_answer(OLD.id, OLD.usage_record_id, OLD.rag, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.usage_record_id IS NOT NULL THEN
        PERFORM chat_quality_answer(NEW.id, NEW.usage_record_id, NEW.rag, 1);
    END IF;
    RETURN NULL;
END
$$;

-- Ratings changed by one statement, per answer: how many more there are (d_count) and
-- how many more thumbs up (d_up). Whether an answer is rated at all depends on its other
-- ratings, so the answers are locked first (in one order: no deadlock) and counted after,
-- in a fresh snapshot that sees any rating committed meanwhile. An answer deleted already
-- took its ratings back with it (chat_quality_message).
CREATE FUNCTION chat_quality_rated(p_messages uuid[], p_counts int[], p_ups int[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_message WHERE id = ANY(p_messages) ORDER BY id FOR NO KEY UPDATE;
    INSERT INTO chat_dailyquality (id, tenant_id, created_at, updated_at, day, feature, model,
                                   source, rated, thumbs_up)
    SELECT gen_random_uuid(), u.tenant_id, now(), now(), {KEY}, 'answers',
           sum((r.n > 0)::int - (r.n - c.d_count > 0)::int), sum(c.d_up)
      FROM unnest(p_messages, p_counts, p_ups) AS c(message_id, d_count, d_up)
      JOIN chat_message m ON m.id = c.message_id
      JOIN gateway_usagerecord u ON u.id = m.usage_record_id AND u.feature IN {FEATURES},
           LATERAL (SELECT count(*) AS n FROM chat_feedback f
                     WHERE f.message_id = c.message_id) AS r
     GROUP BY u.tenant_id, 5, 6, 7
    HAVING sum((r.n > 0)::int - (r.n - c.d_count > 0)::int) <> 0 OR sum(c.d_up) <> 0
     ORDER BY 5, 6, 7
    ON CONFLICT (tenant_id, day, feature, model, source) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        rated = chat_dailyquality.rated + EXCLUDED.rated,
        thumbs_up = chat_dailyquality.thumbs_up + EXCLUDED.thumbs_up;
END
$$;

-- One function per kind of statement: a transition table exists only for its own kind.
CREATE FUNCTION chat_quality_feedback_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_quality_rated(array_agg(message_id), array_agg(n), array_agg(up))
       FROM (SELECT message_id, count(*)::int AS n,
                    count(*) FILTER (WHERE rating = 'up')::int AS up
               FROM new_rows GROUP BY message_id) AS c
     HAVING count(*) > 0;
    RETURN NULL;
END
$$;
CREATE FUNCTION chat_quality_feedback_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_quality_rated(array_agg(message_id), array_agg(n), array_agg(up))
       FROM (SELECT message_id, -count(*)::int AS n,
                    -count(*) FILTER (WHERE rating = 'up')::int AS up
               FROM old_rows GROUP BY message_id) AS c
     HAVING count(*) > 0;
    RETURN NULL;
END
$$;
CREATE FUNCTION chat_quality_feedback_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_quality_rated(array_agg(message_id), array_agg(n), array_agg(up))
       FROM (SELECT message_id, sum(n)::int AS n, sum(up)::int AS up
               FROM (SELECT message_id, 1 AS n, (rating = 'up')::int AS up FROM new_rows
                     UNION ALL
                     SELECT message_id, -1, -(rating = 'up')::int FROM old_rows) AS d
              GROUP BY message_id) AS c
     HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER chat_quality_message_inserted AFTER INSERT ON chat_message
    FOR EACH ROW WHEN (NEW.usage_record_id IS NOT NULL)
    EXECUTE FUNCTION chat_quality_message();
-- The streaming path's UPDATE (message_finish) sets the ledger row and the check at once.
CREATE TRIGGER chat_quality_message_updated AFTER UPDATE OF usage_record_id, rag ON chat_message
    FOR EACH ROW WHEN (OLD.usage_record_id IS DISTINCT FROM NEW.usage_record_id
                       OR OLD.rag IS DISTINCT FROM NEW.rag)
    EXECUTE FUNCTION chat_quality_message();
CREATE TRIGGER chat_quality_message_deleted AFTER DELETE ON chat_message
    FOR EACH ROW WHEN (OLD.usage_record_id IS NOT NULL)
    EXECUTE FUNCTION chat_quality_message();
CREATE TRIGGER chat_quality_feedback_inserted AFTER INSERT ON chat_feedback
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_quality_feedback_inserted();
CREATE TRIGGER chat_quality_feedback_deleted AFTER DELETE ON chat_feedback
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_quality_feedback_deleted();
CREATE TRIGGER chat_quality_feedback_updated AFTER UPDATE ON chat_feedback
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_quality_feedback_updated();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS chat_quality_message_inserted ON chat_message;
DROP TRIGGER IF EXISTS chat_quality_message_updated ON chat_message;
DROP TRIGGER IF EXISTS chat_quality_message_deleted ON chat_message;
DROP TRIGGER IF EXISTS chat_quality_feedback_inserted ON chat_feedback;
DROP TRIGGER IF EXISTS chat_quality_feedback_deleted ON chat_feedback;
DROP TRIGGER IF EXISTS chat_quality_feedback_updated ON chat_feedback;
DROP FUNCTION IF EXISTS chat_quality_feedback_inserted();
DROP FUNCTION IF EXISTS chat_quality_feedback_deleted();
DROP FUNCTION IF EXISTS chat_quality_feedback_updated();
DROP FUNCTION IF EXISTS chat_quality_rated(uuid[], int[], int[]);
DROP FUNCTION IF EXISTS chat_quality_message();
DROP FUNCTION IF EXISTS chat_quality_answer(uuid, uuid, jsonb, int);
DROP FUNCTION IF EXISTS chat_quality_passed(jsonb);
DROP FUNCTION IF EXISTS chat_quality_cited(jsonb);
"""

# History, with RLS un-forced on the tables read and written for these two statements,
# inside the migration's transaction (the ALTERs lock the tables until it commits).
FILL_TABLES = (
    "gateway_usagerecord",
    "finops_pendingusage",
    "chat_message",
    "chat_feedback",
    "chat_dailyquality",
)
FILL_LEDGER = f"""
INSERT INTO chat_dailyquality (id, tenant_id, created_at, updated_at, day, feature, model,
                               source, answers, stopped, errors)
SELECT gen_random_uuid(), u.tenant_id, now(), now(), {KEY}, 'ledger', count(*),
       count(*) FILTER (WHERE u.status = 'aborted'),
       count(*) FILTER (WHERE u.status IN ('error', 'cut'))
  FROM gateway_usagerecord u
 WHERE u.feature IN {FEATURES}
   AND NOT EXISTS (SELECT 1 FROM finops_pendingusage p WHERE p.usage_record_id = u.id)
 GROUP BY u.tenant_id, 5, 6, 7
"""
# The answers' side, grouped: what the triggers would have added one row at a time
# (bench/quality.py loads its answers this way too).
FILL_ANSWERS = f"""
INSERT INTO chat_dailyquality (id, tenant_id, created_at, updated_at, day, feature, model,
                               source, {", ".join(ANSWER_COLUMNS)})
SELECT gen_random_uuid(), u.tenant_id, now(), now(), {KEY}, 'answers', count(*),
       sum(chat_quality_cited(m.rag)), sum(chat_quality_passed(m.rag)),
       count(*) FILTER (WHERE r.n > 0), coalesce(sum(r.up), 0)
  FROM chat_message m
  JOIN gateway_usagerecord u ON u.id = m.usage_record_id AND u.feature IN {FEATURES}
  LEFT JOIN (SELECT message_id, count(*) AS n, count(*) FILTER (WHERE rating = 'up') AS up
               FROM chat_feedback GROUP BY message_id) AS r ON r.message_id = m.id
 GROUP BY u.tenant_id, 5, 6, 7;
"""


def fill(apps, schema_editor):
    for table in FILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    schema_editor.execute(FILL_LEDGER, params=None)
    schema_editor.execute(FILL_ANSWERS, params=None)
    # The new rows' foreign-key checks are deferred to the commit; an ALTER TABLE refuses
    # to run while they are pending, so they run now.
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")
    for table in FILL_TABLES:
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_feedback"),
        ("tenants", "0008_alert_webhooks"),
        ("gateway", "0009_usage_batch"),
        # The fill leaves to the drain the ledger rows still on its queue.
        ("finops", "0001_rollups"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyQuality",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("day", models.DateField()),
                ("feature", models.CharField(max_length=40)),
                ("model", models.CharField(max_length=200)),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("ledger", "The ledger rows (the FinOps drain)"),
                            ("answers", "The chat answers and their ratings (database triggers)"),
                        ],
                        max_length=7,
                    ),
                ),
                ("answers", models.BigIntegerField(db_default=0, default=0)),
                ("stopped", models.BigIntegerField(db_default=0, default=0)),
                ("errors", models.BigIntegerField(db_default=0, default=0)),
                ("chat_answers", models.BigIntegerField(db_default=0, default=0)),
                ("cited", models.BigIntegerField(db_default=0, default=0)),
                ("citations_passed", models.BigIntegerField(db_default=0, default=0)),
                ("rated", models.BigIntegerField(db_default=0, default=0)),
                ("thumbs_up", models.BigIntegerField(db_default=0, default=0)),
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
                        fields=("tenant", "day", "feature", "model", "source"),
                        name="chat_quality_key",
                    )
                ],
            },
        ),
        EnableRLS("dailyquality"),
        migrations.RunSQL(FUNCTIONS, reverse_sql=DROP_FUNCTIONS),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
