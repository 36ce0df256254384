"""An answer's quality counts no longer need its ledger row to be there when it is saved.

The gateway's journal writes a ledger row a few ms after its call, so a chat answer may be
saved (``message_finish``) before the row its counts are keyed by (0006's trigger found no
row and counted nothing; the stream used to wait for the journal). Now:

- the answer's trigger counts it when the row is there, as before, and otherwise lists it
  in ``chat_qualitywaiting``; a waiting answer that changes or goes is only taken off the
  list (nothing was counted), and its ratings are not counted either;
- the FinOps drain (``apps/finops/rollups.py``) calls ``chat_quality_arrived`` for each
  tenant with queued ledger rows or waiting answers: it counts each waiting answer whose
  row has arrived, with its citation check and ratings as they are then, and takes it off
  the list in the same transaction. Exactly once: the answer is locked first (as the
  ratings' trigger locks it), so a writer of the answer or its ratings runs wholly before
  (and is in the count) or wholly after (and finds the answer counted).

The list is tenant data under FORCEd RLS; the drain finds the tenants that have waiting
answers through a SELECT-only policy, as it finds those with queued ledger rows.
"""

import importlib
import uuid

import django.db.models.deletion
from django.db import migrations, models

from apps.core.rls import EnableRLS

# Answering features, as in apps/chat/quality.py (tests/chat/test_quality_features.py).
FEATURES = "('chat', 'api_chat', 'batch_summary')"
KEY = """(u.created_at AT TIME ZONE 'UTC')::date, u.feature,
       coalesce(nullif(u.served_model, ''), u.requested_model)"""

MESSAGE = """
CREATE OR REPLACE FUNCTION chat_quality_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.usage_record_id IS NOT NULL THEN
        -- Counted, unless it was still waiting for its ledger row.
        DELETE FROM chat_qualitywaiting WHERE message_id = OLD.id;
        IF NOT FOUND THEN
            PERFORM chat_quality_answer(OLD.id, OLD.usage_record_id, OLD.rag, -1);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.usage_record_id IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM gateway_usagerecord WHERE id = NEW.usage_record_id) THEN
            PERFORM chat_quality_answer(NEW.id, NEW.usage_record_id, NEW.rag, 1);
        ELSE
            INSERT INTO chat_qualitywaiting
                (id, tenant_id, created_at, updated_at, message_id, usage_record_id)
            VALUES (gen_random_uuid(), NEW.tenant_id, now(), now(), NEW.id, NEW.usage_record_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
"""

# 0006's, but for answers still waiting for their ledger row (the drain counts their
# ratings with them).
RATED = f"""
CREATE OR REPLACE FUNCTION chat_quality_rated(p_messages uuid[], p_counts int[], p_ups int[])
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
     WHERE NOT EXISTS (SELECT 1 FROM chat_qualitywaiting w WHERE w.message_id = m.id)
     GROUP BY u.tenant_id, 5, 6, 7
    HAVING sum((r.n > 0)::int - (r.n - c.d_count > 0)::int) <> 0 OR sum(c.d_up) <> 0
     ORDER BY 5, 6, 7
    ON CONFLICT (tenant_id, day, feature, model, source) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        rated = chat_dailyquality.rated + EXCLUDED.rated,
        thumbs_up = chat_dailyquality.thumbs_up + EXCLUDED.thumbs_up;
END
$$;
"""

# Lock the tenant's waiting answers whose ledger row is there (in id order; one a writer
# holds is left for the next drain), then, in fresh snapshots, take them off the list and
# count them as they are now. Only those this call took off the list are counted: one
# counted by its own trigger meanwhile is no longer on it. Returns how many it counted.
ARRIVED = """
CREATE FUNCTION chat_quality_arrived(p_tenant uuid) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    locked uuid[];
    taken uuid[];
BEGIN
    SELECT array_agg(id) INTO locked FROM (
        SELECT m.id FROM chat_qualitywaiting w
          JOIN chat_message m ON m.id = w.message_id
         WHERE w.tenant_id = p_tenant
           AND EXISTS (SELECT 1 FROM gateway_usagerecord u WHERE u.id = w.usage_record_id)
         ORDER BY m.id
           FOR NO KEY UPDATE OF m SKIP LOCKED
    ) AS ready;
    IF locked IS NULL THEN
        RETURN 0;
    END IF;
    WITH gone AS (
        DELETE FROM chat_qualitywaiting w
         USING gateway_usagerecord u
         WHERE w.message_id = ANY(locked) AND u.id = w.usage_record_id
        RETURNING w.message_id
    )
    SELECT array_agg(message_id) INTO taken FROM gone;
    PERFORM chat_quality_answer(m.id, m.usage_record_id, m.rag, 1)
       FROM chat_message m
      WHERE m.id = ANY(taken)
      ORDER BY m.id;
    RETURN coalesce(cardinality(taken), 0);
END
$$;
"""


def previous(name: str) -> str:
    """0006's definition of the function ``name``, to put back when this is reversed."""
    created = importlib.import_module("apps.chat.migrations.0006_daily_quality").FUNCTIONS
    start = created.index(f"CREATE FUNCTION {name}(")
    end = created.index("$$;", created.index("$$", start) + 2) + 3
    return created[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0006_daily_quality"),
        ("tenants", "0008_alert_webhooks"),
    ]

    operations = [
        migrations.CreateModel(
            name="QualityWaiting",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("message_id", models.UUIDField(unique=True)),
                ("usage_record_id", models.UUIDField()),
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
                "abstract": False,
            },
        ),
        # The FinOps drain lists the tenants with waiting answers through this policy.
        EnableRLS(
            "qualitywaiting",
            read_also="current_setting('app.platform_job', true) = 'finops_rollup'",
        ),
        migrations.RunSQL(
            MESSAGE + RATED + ARRIVED,
            reverse_sql=[
                "DROP FUNCTION IF EXISTS chat_quality_arrived(uuid)",
                previous("chat_quality_message"),
                previous("chat_quality_rated"),
            ],
        ),
    ]
