"""The beat poller's fallback: with ``app.platform_job = 'summaries_poll'`` it may read
(never write) jobs of every tenant, to rebuild its list of running jobs when the Redis set
is lost (apps/summaries/jobs.py ``unfinished_jobs``). A partial index keeps that scan to
the unfinished rows."""

from django.db import migrations

POLICY = (
    "CREATE POLICY poller_read ON summaries_summaryjob FOR SELECT "
    "USING (current_setting('app.platform_job', true) = 'summaries_poll')"
)


class Migration(migrations.Migration):
    dependencies = [("summaries", "0001_initial")]

    operations = [
        migrations.RunSQL(POLICY, "DROP POLICY IF EXISTS poller_read ON summaries_summaryjob"),
    ]
