"""The ledger says which rows are Batch API items (``UsageRecord.batch``), instead of the
rule the FinOps rollups used to infer it: a Batch API item is the one row whose requested
model is the served model string itself (``record_batch_usage``), where every other call
names an alias ("fast", "smart"). Existing rows are marked by that rule.

The column has a database default, so a row inserted without it (an older process during
a deploy) is not a batch item. The ledger is under FORCEd row-level security, which binds
its owner too: it is un-forced for the one UPDATE, inside this migration's transaction.
"""

from django.db import migrations, models

MARK_EXISTING = """
ALTER TABLE gateway_usagerecord NO FORCE ROW LEVEL SECURITY;
UPDATE gateway_usagerecord SET batch = true WHERE requested_model = served_model;
-- The update's deferred foreign-key checks run now: ALTER TABLE refuses to run while
-- they are pending.
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE gateway_usagerecord FORCE ROW LEVEL SECURITY;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0008_suggested_prompts"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="batch",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunSQL(MARK_EXISTING, reverse_sql=migrations.RunSQL.noop),
    ]
