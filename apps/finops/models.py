"""FinOps tables: the ledger's rollups, the operator's coarser daily and monthly totals,
and the queue of ledger rows not yet rolled up.

All are tenant data under row-level security (migrations 0001, 0003 and 0004). How the queue is
filled (a trigger on the ledger) and drained (``apps/finops/rollups.py``): docs/finops.md.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.core.models import TenantScopedModel


class Period(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


def period_first_key(period: str, *key: str, name: str) -> list[models.BaseConstraint]:
    """The unique key of an operator table: its period column (a day or a month) first,
    then the tenant and the rest. Period first: the operator reads one date range across
    every tenant, and the drain's upsert names the key in any order. Its columns also
    cover the operator's counts of user rows (index-only)."""
    return [models.UniqueConstraint(fields=(period, "tenant", *key), name=name)]


class LedgerTotals(TenantScopedModel):
    """Ledger rows summed: calls, tokens and cost. Every table below that has them is kept
    by the drain's one statement (``apps/finops/rollups.py``), so they never disagree."""

    calls = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))

    class Meta(TenantScopedModel.Meta):
        abstract = True


class DayTotals(LedgerTotals):
    """A day's totals with the part made by signed-in users (``user_tokens`` and
    ``user_cost_usd``: the cost model's tokens per active user); the rest came through
    API keys."""

    user_tokens = models.BigIntegerField(default=0)
    user_cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))

    class Meta(LedgerTotals.Meta):
        abstract = True


class PendingUsage(models.Model):
    """A ledger row waiting to be added to the rollups.

    Written by the database itself (trigger ``finops_enqueue_usage`` on the ledger, in the
    ledger row's own transaction), taken and deleted by ``rollups.drain_tenant`` in the
    statement that adds the row to the rollups: each row counts exactly once. A bigint key
    keeps the queue in insertion order; no foreign key, so the ledger's insert pays for
    nothing but this one row.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    usage_record_id = models.UUIDField()

    class Meta:
        indexes = [models.Index(fields=("tenant", "id"), name="finops_pending_tenant_idx")]

    def __str__(self) -> str:
        return f"pending {self.usage_record_id}"


class UsageRollup(LedgerTotals):
    """Totals of the ledger for one bucket (an hour or a UTC day) and one combination of
    feature, model, user and API key. Dashboards and the API read these, never the ledger.

    ``model`` is the served model, or the requested one when nothing was served (errors).
    ``user`` and ``api_key_id`` carry no database constraint: deleting a user or a key
    must not merge or drop history (the ids stay; their names are looked up for display).
    """

    period = models.CharField(max_length=4, choices=Period.choices)
    bucket = models.DateTimeField()
    feature = models.CharField(max_length=40)
    model = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    api_key_id = models.UUIDField(null=True, blank=True)

    exact_hits = models.BigIntegerField(default=0)
    semantic_hits = models.BigIntegerField(default=0)
    saved_exact_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))
    saved_semantic_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))
    errors = models.BigIntegerField(default=0)
    # Aborted by the client, cut by the provider, or stopped by a guardrail.
    stopped = models.BigIntegerField(default=0)
    # Items answered through a provider's Batch API (at its discount).
    batch_calls = models.BigIntegerField(default=0)
    batch_tokens_in = models.BigIntegerField(default=0)
    batch_tokens_out = models.BigIntegerField(default=0)
    batch_cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))

    class Meta(LedgerTotals.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "period", "bucket", "feature", "model", "user", "api_key_id"),
                name="finops_rollup_key",
                nulls_distinct=False,
            ),
        ]
        # No other index: the key's first columns (tenant, period, bucket) serve the
        # dashboards' range scans.

    def __str__(self) -> str:
        return f"{self.period} {self.bucket:%Y-%m-%d %H:00} {self.feature} {self.model}"


class DailyFeatureTotal(DayTotals):
    """A tenant's totals for one UTC day and one feature: the operator console's rollup.

    The daily ``UsageRollup`` rows summed over model, user and API key. Read across
    tenants only by the operator functions (finops migration 0003).
    """

    day = models.DateTimeField()  # midnight UTC, as ``UsageRollup.bucket`` for a day
    feature = models.CharField(max_length=40)

    class Meta(DayTotals.Meta):
        constraints = period_first_key("day", "feature", name="finops_feature_day_key")

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.feature}"


class DailyActiveUser(TenantScopedModel):
    """A user who made at least one call for the tenant on a UTC day: one row, written
    once (``ON CONFLICT DO NOTHING``) by the drain. Counting rows gives user-days, counting
    distinct users gives the active users of a range, without the rollups' other keys."""

    day = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta(TenantScopedModel.Meta):
        constraints = period_first_key("day", "user", name="finops_active_user_key")

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} user {self.user_id}"


class DailyTenantTotal(DayTotals):
    """A tenant's totals for one UTC day, all features together: what the operator
    console sums per tenant, per day and for the cost model (finops migration 0004).

    ``DailyFeatureTotal`` summed over the features, plus ``user_days``: how many users
    made a call that day (the ``DailyActiveUser`` rows of the day). Kept by the same drain
    statement (``apps/finops/rollups.py``): ``user_days`` grows by the user-days that
    statement actually inserted, so it stays exact when two drains race.
    """

    day = models.DateTimeField()  # midnight UTC
    user_days = models.BigIntegerField(default=0)

    class Meta(DayTotals.Meta):
        constraints = period_first_key("day", name="finops_tenant_day_key")

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d}"


class MonthlyFeatureTotal(LedgerTotals):
    """A tenant's totals for one UTC calendar month and one feature (finops migration
    0004): the feature-day totals of the month summed, kept by the same drain statement.

    The month to date is the month's rows less the feature-day rows from the end of the
    range to the end of the month (none when the range ends now): a few rows per tenant
    instead of one per feature and day, however late in the month.
    """

    month = models.DateTimeField()  # the first of the month, midnight UTC
    feature = models.CharField(max_length=40)

    class Meta(LedgerTotals.Meta):
        constraints = period_first_key("month", "feature", name="finops_month_feature_key")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.feature}"


class MonthlyActiveUser(TenantScopedModel):
    """A user who made at least one call for the tenant in a UTC calendar month, with the
    first day of the month they did (finops migration 0004).

    The month's distinct active users up to any moment are the rows of the month whose
    ``first_day`` is before it: the month-to-date count reads one row per user instead of
    one per user-day. ``first_day`` only moves earlier (a late row of an earlier day).
    """

    month = models.DateTimeField()  # the first of the month, midnight UTC
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    first_day = models.DateTimeField()

    class Meta(TenantScopedModel.Meta):
        constraints = period_first_key("month", "user", name="finops_month_user_key")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} user {self.user_id}"


class OperatorRead(models.Model):
    """One call of an operator read function (finops migration 0002): who read every
    tenant's figures, when, which function and for which range. Written only by the
    functions themselves (they run as the owner); the runtime role may SELECT it but
    not insert, change or delete a row. No tenant data, so not under RLS."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    reason = models.CharField(max_length=80)
    function = models.CharField(max_length=80)
    since = models.DateTimeField()
    until = models.DateTimeField()

    class Meta:
        ordering = ("-at",)

    def __str__(self) -> str:
        return f"{self.function} by {self.actor_id or self.reason} at {self.at:%Y-%m-%d %H:%M}"
