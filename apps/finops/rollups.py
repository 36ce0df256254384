"""The ledger, rolled up: hourly and daily totals per tenant, feature, model, user and key.

Exact and incremental, whatever order ledger rows commit in:

1. Every ledger insert also queues its rows' ids in ``finops_pendingusage``: a trigger on
   the ledger (finops migration 0001), so in the same transaction. A row and its queue
   entry become visible together, or not at all.
2. ``drain_tenant`` takes up to ``BATCH_ROWS`` queue entries of one tenant and, in ONE
   statement, deletes them, joins their ledger rows, groups them by bucket and key, and
   adds the sums to the rollups (``INSERT … ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x``).
   Deleting and adding are one statement, so one transaction: an entry is added exactly
   once or, on any failure, stays queued for the next run.
3. The same statement keeps the operator console's coarser tables
   (``DailyFeatureTotal``: tenant x day x feature; ``DailyActiveUser``: tenant x day x
   user, written once; ``DailyTenantTotal``: tenant x day; ``MonthlyFeatureTotal``:
   tenant x month x feature; ``MonthlyActiveUser``: tenant x month x user, with the
   user's first day of the month), so they are exactly the daily rollups summed, at
   every commit, and the ledger side of the AI quality signals
   (``apps.chat.models.DailyQuality``: answers, stopped, failed per day, feature and
   model).
4. Then the answers saved before their ledger row (``QualityWaiting``, chat migration
   0007) whose row has arrived are counted on the answers' side, once
   (``count_arrived_answers``).

Why a queue and not a watermark over ``created_at`` or an id: ``created_at`` is taken
before the insert and ids are not monotonic (UUIDs; a sequence would be handed out
before commit too), so a row that commits late sits behind a watermark that has already
passed it, and a "re-read the last N minutes" window misses any row later than N. The
queue needs no guess: an entry is visible exactly when its ledger row is. ``FOR UPDATE
SKIP LOCKED`` lets two drains (an overlapping beat run) take disjoint entries.

A late row (one whose ``created_at`` is long past when it commits) lands in the bucket
of its ``created_at``: yesterday's total grows when it commits, and the dashboards show it.

``drain`` runs this for every tenant with queued entries or waiting answers; Celery beat
calls it every ``FINOPS_ROLLUP_INTERVAL_S`` seconds (``finops.rollup``). Hourly rows older
than ``HOURLY_RETENTION`` are deleted (the daily rows keep everything).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, connection
from django.db.models import Exists, OuterRef
from psycopg.errors import LockNotAvailable

from apps.chat.models import QualitySource, QualityWaiting
from apps.chat.quality import ANSWER_FEATURES
from apps.core.db import setting_context, tenant_context
from apps.finops.models import PendingUsage, Period, UsageRollup
from apps.gateway.models import CallStatus, UsageRecord

logger = logging.getLogger(__name__)

PLATFORM_JOB = "finops_rollup"  # app.platform_job value that may list queued tenants
BATCH_ROWS = 20_000
HOURLY_RETENTION = timedelta(days=8)
# An answer still waiting for its ledger row after this never gets one (its journal entry
# was lost with Redis: docs/gateway.md, "Failures and crashes"): it stops waiting, and is
# not counted, as the raw ledger query would not count it either.
WAITING_GIVE_UP = timedelta(days=1)

# Which ledger rows count as what. Statuses and cache kinds are the gateway's
# (apps/gateway/models.py CallStatus, CacheKind); a Batch API item is a row marked
# ``batch`` (apps/gateway/batch.py record_batch_usage).
_SUMS = """
    count(*) AS calls,
    sum(u.tokens_in) AS tokens_in,
    sum(u.tokens_out) AS tokens_out,
    sum(u.cost_usd) AS cost_usd,
    count(*) FILTER (WHERE u.cache = 'exact') AS exact_hits,
    count(*) FILTER (WHERE u.cache = 'semantic') AS semantic_hits,
    coalesce(sum(u.saved_cost_usd) FILTER (WHERE u.cache = 'exact'), 0) AS saved_exact_usd,
    coalesce(sum(u.saved_cost_usd) FILTER (WHERE u.cache = 'semantic'), 0)
        AS saved_semantic_usd,
    count(*) FILTER (WHERE u.status = 'error') AS errors,
    count(*) FILTER (WHERE u.status IN ('aborted', 'cut', 'blocked')) AS stopped,
    count(*) FILTER (WHERE u.batch) AS batch_calls,
    coalesce(sum(u.tokens_in) FILTER (WHERE u.batch), 0) AS batch_tokens_in,
    coalesce(sum(u.tokens_out) FILTER (WHERE u.batch), 0) AS batch_tokens_out,
    coalesce(sum(u.cost_usd) FILTER (WHERE u.batch), 0) AS batch_cost_usd
"""
SUM_COLUMNS = (
    "calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "exact_hits",
    "semantic_hits",
    "saved_exact_usd",
    "saved_semantic_usd",
    "errors",
    "stopped",
    "batch_calls",
    "batch_tokens_in",
    "batch_tokens_out",
    "batch_cost_usd",
)
KEY_COLUMNS = ("period", "bucket", "feature", "model", "user_id", "api_key_id")
# The operator's daily totals per tenant and feature (``DailyFeatureTotal``).
DAY_SUM_COLUMNS = ("calls", "tokens_in", "tokens_out", "cost_usd", "user_tokens", "user_cost_usd")
# The operator's daily totals per tenant (``DailyTenantTotal``): the same, and user-days.
TENANT_DAY_SUMS = (*DAY_SUM_COLUMNS, "user_days")
# ... per tenant, month and feature (``MonthlyFeatureTotal``).
MONTH_SUMS = ("calls", "tokens_in", "tokens_out", "cost_usd")
# The AI quality signals' counts that come from the ledger row alone.
QUALITY_COLUMNS = ("answers", "stopped", "errors")

_DRAIN = f"""
WITH picked AS MATERIALIZED (
    -- Its own CTE: as a subquery of the DELETE it may be run more than once and take
    -- more than the limit.
    SELECT id FROM finops_pendingusage
    WHERE tenant_id = %(tenant)s::uuid
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), taken AS (
    DELETE FROM finops_pendingusage p USING picked WHERE p.id = picked.id
    RETURNING p.usage_record_id
), totals AS (
    SELECT p.period,
           date_trunc(p.period, u.created_at, 'UTC') AS bucket,
           u.feature,
           coalesce(nullif(u.served_model, ''), u.requested_model) AS model,
           u.user_id,
           u.api_key_id,
           {_SUMS}
    FROM taken t
    JOIN gateway_usagerecord u ON u.id = t.usage_record_id AND u.tenant_id = %(tenant)s::uuid
    CROSS JOIN (VALUES ('hour'), ('day')) AS p(period)
    GROUP BY 1, 2, 3, 4, 5, 6
    -- One lock order for every drain: two overlapping runs cannot deadlock.
    ORDER BY 1, 2, 3, 4, 5, 6
), added AS (
    INSERT INTO finops_usagerollup
        (id, tenant_id, created_at, updated_at, {", ".join(KEY_COLUMNS)}, {", ".join(SUM_COLUMNS)})
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(),
           {", ".join(KEY_COLUMNS)}, {", ".join(SUM_COLUMNS)}
    FROM totals
    ON CONFLICT (tenant_id, {", ".join(KEY_COLUMNS)}) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {", ".join(f"{c} = finops_usagerollup.{c} + EXCLUDED.{c}" for c in SUM_COLUMNS)}
    RETURNING 1
), day_totals AS (
    -- The operator's coarser totals: the day rows above summed over model, user and key.
    SELECT bucket AS day, feature,
           sum(calls) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
           sum(cost_usd) AS cost_usd,
           coalesce(sum(tokens_in + tokens_out) FILTER (WHERE user_id IS NOT NULL), 0)
               AS user_tokens,
           coalesce(sum(cost_usd) FILTER (WHERE user_id IS NOT NULL), 0) AS user_cost_usd
    FROM totals
    WHERE period = 'day'
    GROUP BY 1, 2
    ORDER BY 1, 2
), features_added AS (
    INSERT INTO finops_dailyfeaturetotal
        (id, tenant_id, created_at, updated_at, day, feature, {", ".join(DAY_SUM_COLUMNS)})
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(), day, feature,
           {", ".join(DAY_SUM_COLUMNS)}
    FROM day_totals
    ON CONFLICT (day, tenant_id, feature) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {", ".join(f"{c} = finops_dailyfeaturetotal.{c} + EXCLUDED.{c}" for c in DAY_SUM_COLUMNS)}
    RETURNING 1
), users_added AS (
    -- A user-day is written once; a later call of the same user that day adds nothing.
    INSERT INTO finops_dailyactiveuser (id, tenant_id, created_at, updated_at, day, user_id)
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(), bucket, user_id
    FROM totals
    WHERE period = 'day' AND user_id IS NOT NULL
    GROUP BY bucket, user_id
    ORDER BY bucket, user_id
    ON CONFLICT (day, tenant_id, user_id) DO NOTHING
    RETURNING day
), tenant_days_added AS (
    -- The operator's per-tenant day (finops migration 0004): the feature-day totals
    -- above summed, and the user-days this statement really inserted (a user-day another
    -- drain inserted first comes back from neither, so it is counted once).
    INSERT INTO finops_dailytenanttotal
        (id, tenant_id, created_at, updated_at, day, {", ".join(DAY_SUM_COLUMNS)}, user_days)
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(), d.day,
           {", ".join(f"sum(d.{c})" for c in DAY_SUM_COLUMNS)},
           coalesce((SELECT count(*) FROM users_added n WHERE n.day = d.day), 0)
    FROM day_totals d
    GROUP BY d.day
    ORDER BY d.day
    ON CONFLICT (day, tenant_id) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {", ".join(f"{c} = finops_dailytenanttotal.{c} + EXCLUDED.{c}" for c in TENANT_DAY_SUMS)}
    RETURNING 1
), month_features_added AS (
    -- The operator's per-tenant month and feature (finops migration 0004).
    INSERT INTO finops_monthlyfeaturetotal
        (id, tenant_id, created_at, updated_at, month, feature, {", ".join(MONTH_SUMS)})
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(),
           date_trunc('month', day, 'UTC'), feature, {", ".join(f"sum({c})" for c in MONTH_SUMS)}
    FROM day_totals
    GROUP BY date_trunc('month', day, 'UTC'), feature
    ORDER BY date_trunc('month', day, 'UTC'), feature
    ON CONFLICT (month, tenant_id, feature) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {", ".join(f"{c} = finops_monthlyfeaturetotal.{c} + EXCLUDED.{c}" for c in MONTH_SUMS)}
    RETURNING 1
), month_users_added AS (
    -- A user of the month, with the first day of it they called on; a late row of an
    -- earlier day moves that day back, nothing moves it forward.
    INSERT INTO finops_monthlyactiveuser
        (id, tenant_id, created_at, updated_at, month, user_id, first_day)
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(),
           date_trunc('month', bucket, 'UTC'), user_id, min(bucket)
    FROM totals
    WHERE period = 'day' AND user_id IS NOT NULL
    GROUP BY date_trunc('month', bucket, 'UTC'), user_id
    ORDER BY date_trunc('month', bucket, 'UTC'), user_id
    ON CONFLICT (month, tenant_id, user_id) DO UPDATE SET
        updated_at = EXCLUDED.updated_at, first_day = EXCLUDED.first_day
        WHERE EXCLUDED.first_day < finops_monthlyactiveuser.first_day
    RETURNING 1
), quality_added AS (
    -- The AI quality signals' ledger side (apps/chat/models.py DailyQuality): answers,
    -- stopped and failed per UTC day, feature and model; chat's triggers keep the rest.
    INSERT INTO chat_dailyquality
        (id, tenant_id, created_at, updated_at, day, feature, model, source,
         {", ".join(QUALITY_COLUMNS)})
    SELECT gen_random_uuid(), %(tenant)s::uuid, now(), now(), day, feature, model,
           %(quality_source)s, {", ".join(QUALITY_COLUMNS)}
    FROM (
        SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day,
               u.feature,
               coalesce(nullif(u.served_model, ''), u.requested_model) AS model,
               count(*) AS answers,
               count(*) FILTER (WHERE u.status = %(aborted)s) AS stopped,
               count(*) FILTER (WHERE u.status IN (%(error)s, %(cut)s)) AS errors
        FROM taken t
        JOIN gateway_usagerecord u ON u.id = t.usage_record_id AND u.tenant_id = %(tenant)s::uuid
        WHERE u.feature = ANY(%(answer_features)s)
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
    ) AS q
    ON CONFLICT (tenant_id, day, feature, model, source) DO UPDATE SET
        updated_at = EXCLUDED.updated_at,
        {", ".join(f"{c} = chat_dailyquality.{c} + EXCLUDED.{c}" for c in QUALITY_COLUMNS)}
    RETURNING 1
)
-- Every data-modifying CTE runs to completion whether read or not; reading them all here
-- fixes the order in which they take row locks (rollups, day totals, users, tenant days,
-- month features, month users, quality), the same for every drain.
SELECT (SELECT count(*) FROM taken),
       (SELECT count(*) FROM added),
       (SELECT count(*) FROM features_added),
       (SELECT count(*) FROM users_added),
       (SELECT count(*) FROM tenant_days_added),
       (SELECT count(*) FROM month_features_added),
       (SELECT count(*) FROM month_users_added),
       (SELECT count(*) FROM quality_added)
"""  # noqa: S608 (no value is formatted in: column names are the constants above)


_QUALITY_PARAMS: dict[str, str | list[str]] = {
    "quality_source": QualitySource.LEDGER.value,
    "answer_features": list(ANSWER_FEATURES),
    "aborted": CallStatus.ABORTED.value,
    "error": CallStatus.ERROR.value,
    "cut": CallStatus.CUT.value,
}


@dataclass
class DrainReport:
    tenants: int = 0
    rows: int = 0
    buckets: int = 0
    pruned: int = 0
    answers: int = 0
    given_up: int = 0


def tenants_with_pending() -> list[uuid.UUID]:
    """Tenants with ledger rows or answers waiting, through the SELECT-only platform
    policies of the queue and of the waiting answers (chat migration 0007)."""
    with setting_context({"app.platform_job": PLATFORM_JOB}):
        queued = set(PendingUsage.objects.values_list("tenant_id", flat=True).distinct())
        waiting = set(QualityWaiting.objects.values_list("tenant_id", flat=True).distinct())
    return sorted(queued | waiting)


def drain_tenant(tenant_id: uuid.UUID, *, limit: int = BATCH_ROWS) -> tuple[int, int]:
    """Add up to ``limit`` queued ledger rows of the tenant to its rollups, in one
    statement (its own transaction). Returns (ledger rows added, rollup rows written)."""
    with tenant_context(tenant_id), connection.cursor() as cursor:
        cursor.execute(_DRAIN, {"tenant": str(tenant_id), "limit": limit, **_QUALITY_PARAMS})
        taken, added, *_ = cursor.fetchone()
    return int(taken), int(added)


# The drain gives way to the app: it waits no longer than this for a lock a request holds
# (a deadlock needs a whole second to be found, and could then cancel the request).
ARRIVED_LOCK_TIMEOUT = "200ms"


def count_arrived_answers(tenant_id: uuid.UUID) -> int:
    """Count on the answers' side the tenant's answers saved before their ledger row, whose
    row is there now (``chat_quality_arrived``, chat migration 0007), in their own
    transaction; how many. Those it cannot lock at once stay for the next drain."""
    try:
        with tenant_context(tenant_id), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [ARRIVED_LOCK_TIMEOUT])
            cursor.execute("SELECT chat_quality_arrived(%s::uuid)", [str(tenant_id)])
            (counted,) = cursor.fetchone()
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
    except OperationalError as exc:
        if not isinstance(exc.__cause__, LockNotAvailable):
            raise
        # The lock timeout: all rolled back, nothing counted.
        logger.info("answers left for the next drain", extra={"tenant_id": str(tenant_id)})
        return 0
    return int(counted)


def give_up_waiting(tenant_id: uuid.UUID, now: datetime) -> int:
    """Take off the list the tenant's answers that have waited longer than
    ``WAITING_GIVE_UP`` and whose ledger row is still not there; how many."""
    with tenant_context(tenant_id):
        arrived = UsageRecord.objects.filter(id=OuterRef("usage_record_id"))
        deleted, _ = (
            QualityWaiting.objects.filter(tenant_id=tenant_id, created_at__lt=now - WAITING_GIVE_UP)
            .exclude(Exists(arrived))
            .delete()
        )
    if deleted:
        logger.warning(
            "answers never got their ledger row",
            extra={"tenant_id": str(tenant_id), "answers": deleted},
        )
    return deleted


def prune_hourly(tenant_id: uuid.UUID, now: datetime) -> int:
    with tenant_context(tenant_id):
        deleted, _ = UsageRollup.objects.filter(
            tenant_id=tenant_id, period=Period.HOUR, bucket__lt=now - HOURLY_RETENTION
        ).delete()
    return deleted


def drain(now: datetime | None = None) -> DrainReport:
    """Bring every tenant's rollups up to date with the ledger rows committed so far."""
    report = DrainReport()
    for tenant_id in tenants_with_pending():
        report.tenants += 1
        while True:
            taken, added = drain_tenant(tenant_id)
            report.rows += taken
            report.buckets += added
            if taken < BATCH_ROWS:
                break
        report.answers += count_arrived_answers(tenant_id)
        if now is not None:
            report.pruned += prune_hourly(tenant_id, now)
            report.given_up += give_up_waiting(tenant_id, now)
    return report
