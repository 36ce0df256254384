"""Reads for the Usage & cost page, its CSV and ``GET /api/v1/usage``: rollups only,
never the ledger. Call everything here inside the tenant's context.

Days are UTC days, as the rollups' buckets. The rollups trail the ledger by at most one
run of the rollup task (``FINOPS_ROLLUP_INTERVAL_S``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from apps.accounts.models import User
from apps.api.models import ApiKey
from apps.core.features import feature_label
from apps.finops import forecast as forecasting
from apps.finops.models import Period, UsageRollup
from apps.finops.savings import ModelUsage, Savings, savings
from apps.gateway import router
from apps.gateway.config import ResolvedConfig
from apps.tenants.models import Membership, Tenant

DEFAULT_DAYS = 30
MAX_DAYS = 366
BUDGET_MARKS = (50, 80, 100)
ZERO = Decimal(0)


class UsageQueryError(ValueError):
    """Bad parameters: ``message`` says what to send instead; ``param`` names the one."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class UsageQuery:
    start: date
    end: date  # inclusive
    user_id: int | None = None
    api_key_id: uuid.UUID | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def today_utc() -> date:
    return datetime.now(UTC).date()


def _date(params: Mapping[str, str], name: str) -> date | None:
    if name not in params:
        return None
    raw = params[name].strip()
    if not raw:
        raise UsageQueryError(
            f"'{name}' is empty: give a date as YYYY-MM-DD, or leave it out.", name
        )
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UsageQueryError(
            f"'{name}' must be a date as YYYY-MM-DD (for example 2026-12-01), not '{raw[:40]}'.",
            name,
        ) from None


def parse_query(tenant: Tenant, params: Mapping[str, str], today: date | None = None) -> UsageQuery:
    """The range and filters asked for, checked. Without dates: the last 30 days."""
    today = today or today_utc()
    end = _date(params, "end") or today
    start = _date(params, "start") or end - timedelta(days=DEFAULT_DAYS - 1)
    if end > today:
        raise UsageQueryError(f"'end' is after today ({today}, UTC): there is no usage yet.", "end")
    if start > end:
        raise UsageQueryError(f"'start' ({start}) is after 'end' ({end}): swap them.", "start")
    if (end - start).days + 1 > MAX_DAYS:
        raise UsageQueryError(
            f"The range is {(end - start).days + 1} days; ask for at most {MAX_DAYS} at a time.",
            "start",
        )
    return UsageQuery(start, end, _user_filter(tenant, params), _key_filter(tenant, params))


def _user_filter(tenant: Tenant, params: Mapping[str, str]) -> int | None:
    raw = params.get("user", "").strip()
    if not raw:
        return None
    # Former members keep their history: a user is known when the rollups or the
    # memberships name them; anything else (another tenant's user) reads as unknown.
    if raw.isdigit():
        user_id = int(raw)
        known = Membership.objects.filter(tenant=tenant, user_id=user_id).exists() or (
            UsageRollup.objects.filter(tenant=tenant, user_id=user_id).exists()
        )
        if known:
            return user_id
    raise UsageQueryError(
        f"No user '{raw[:40]}' in this organisation: use an id from by_user.", "user"
    )


def _key_filter(tenant: Tenant, params: Mapping[str, str]) -> uuid.UUID | None:
    raw = params.get("api_key", "").strip()
    if not raw:
        return None
    try:
        key_id = uuid.UUID(raw)
    except ValueError:
        key_id = None
    if key_id is not None and ApiKey.objects.filter(tenant=tenant, id=key_id).exists():
        return key_id
    raise UsageQueryError(
        f"No API key '{raw[:40]}' in this organisation: use an id from by_api_key.", "api_key"
    )


# --- The report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = ZERO
    cache_hits: int = 0
    errors: int = 0
    stopped: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True)
class Row:
    """One line of a breakdown (or one day of the series)."""

    key: str
    label: str
    totals: Totals
    share: float  # of the range's cost, 0 to 1


@dataclass(frozen=True)
class Budget:
    budget_usd: Decimal | None
    spent_usd: Decimal
    percent: int | None
    marks: tuple[int, ...] = BUDGET_MARKS

    @property
    def level(self) -> str:
        if self.percent is None:
            return "none"
        return "danger" if self.percent >= 100 else "warning" if self.percent >= 80 else "ok"


@dataclass(frozen=True)
class TokensToday:
    tokens: int
    limit: int | None
    percent: int | None
    by_hour: list[tuple[int, int]]  # (hour 0-23 UTC, tokens)


@dataclass(frozen=True)
class UsageReport:
    query: UsageQuery
    totals: Totals
    daily: list[Row]
    by_feature: list[Row]
    by_model: list[Row]
    by_user: list[Row]
    by_api_key: list[Row]
    savings: Savings
    budget: Budget
    forecast: forecasting.Forecast
    tokens_today: TokensToday
    plan: str

    @property
    def empty(self) -> bool:
        return self.totals.calls == 0


_SUMS = {
    "calls": Sum("calls"),
    "tokens_in": Sum("tokens_in"),
    "tokens_out": Sum("tokens_out"),
    "cost_usd": Sum("cost_usd"),
    "exact_hits": Sum("exact_hits"),
    "semantic_hits": Sum("semantic_hits"),
    "errors": Sum("errors"),
    "stopped": Sum("stopped"),
}


def _totals(values: Mapping[str, Any]) -> Totals:
    return Totals(
        calls=values["calls"] or 0,
        tokens_in=values["tokens_in"] or 0,
        tokens_out=values["tokens_out"] or 0,
        cost_usd=values["cost_usd"] or ZERO,
        cache_hits=(values["exact_hits"] or 0) + (values["semantic_hits"] or 0),
        errors=values["errors"] or 0,
        stopped=values["stopped"] or 0,
    )


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _daily_rows(tenant: Tenant, start: date, end: date) -> QuerySet[UsageRollup]:
    return UsageRollup.objects.filter(
        tenant=tenant,
        period=Period.DAY,
        bucket__gte=day_start(start),
        bucket__lt=day_start(end + timedelta(days=1)),
    )


def _share(cost: Decimal, total: Decimal) -> float:
    return float(cost / total) if total else 0.0


_MODEL_SUMS = {
    "batch_tokens_in": Sum("batch_tokens_in"),
    "batch_tokens_out": Sum("batch_tokens_out"),
    "batch_cost_usd": Sum("batch_cost_usd"),
    "saved_exact_usd": Sum("saved_exact_usd"),
    "saved_semantic_usd": Sum("saved_semantic_usd"),
}
DIMENSIONS = ("feature", "model", "user_id", "api_key_id")


def _summed(combos: Iterable[dict[str, Any]]) -> dict[str, Any]:
    sums: dict[str, Any] = dict.fromkeys((*_SUMS, *_MODEL_SUMS), 0)
    for combo in combos:
        for name in sums:
            sums[name] += combo[name] or 0
    return sums


def _grouped(combos: list[dict[str, Any]], dimension: str) -> dict[Any, dict[str, Any]]:
    """``combos`` (one per feature, model, user and key) summed per value of ``dimension``."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for combo in combos:
        groups.setdefault(combo[dimension], []).append(combo)
    return {key: _summed(members) for key, members in groups.items()}


def _breakdown(
    combos: list[dict[str, Any]], dimension: str, total: Decimal, labels: Mapping[Any, str]
) -> list[Row]:
    rows = [
        Row(
            "" if key is None else str(key),
            labels.get(key, str(key)),
            _totals(sums),
            _share(sums["cost_usd"], total),
        )
        for key, sums in _grouped(combos, dimension).items()
    ]
    return sorted(rows, key=lambda r: (-r.totals.cost_usd, -r.totals.calls, r.label))


def _user_labels(ids: Iterable[int | None]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    labels: dict[Any, str] = {None: "No person (API keys, background work)"}
    labels.update(User.objects.filter(id__in=wanted).values_list("id", "email"))
    return labels


def _key_labels(tenant: Tenant, ids: Iterable[uuid.UUID | None]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    labels: dict[Any, str] = {None: "No API key (the app itself)"}
    for key_id, name, prefix in ApiKey.objects.filter(tenant=tenant, id__in=wanted).values_list(
        "id", "name", "prefix"
    ):
        labels[key_id] = f"{name} ({prefix}…)"
    return labels


def strong_model() -> str:
    """The model the savings baseline prices everything at: the strong alias's first."""
    deployments = router.deployments_for("smart") or router.deployments_for("fast")
    return deployments[0].model if deployments else ""


def usage_report(
    tenant: Tenant, query: UsageQuery, cfg: ResolvedConfig, today: date | None = None
) -> UsageReport:
    """Everything the page, the CSV and the API show, from the rollups. ``cfg``: the
    tenant's resolved AI configuration (budget, daily token limit, plan)."""
    today = today or today_utc()
    rows = _daily_rows(tenant, query.start, query.end)
    if query.user_id is not None:
        rows = rows.filter(user_id=query.user_id)
    if query.api_key_id is not None:
        rows = rows.filter(api_key_id=query.api_key_id)

    # One grouped query for the totals, the four breakdowns and the savings: a tenant has
    # tens to hundreds of (feature, model, user, key) combinations in a range.
    combos = list(rows.values(*DIMENSIONS).annotate(**_SUMS, **_MODEL_SUMS).order_by())
    totals = _totals(_summed(combos))
    cost = totals.cost_usd
    per_day = {
        v["bucket"].date(): _totals(v) for v in rows.values("bucket").annotate(**_SUMS).order_by()
    }
    daily = []
    for i in range(query.days):
        day = query.start + timedelta(days=i)
        day_totals = per_day.get(day, Totals())
        label = day.strftime("%-d %b")
        daily.append(Row(day.isoformat(), label, day_totals, _share(day_totals.cost_usd, cost)))
    saved = savings(
        (
            ModelUsage(
                model=model,
                tokens_in=m["tokens_in"],
                tokens_out=m["tokens_out"],
                cost_usd=Decimal(m["cost_usd"]),
                batch_tokens_in=m["batch_tokens_in"],
                batch_tokens_out=m["batch_tokens_out"],
                batch_cost_usd=Decimal(m["batch_cost_usd"]),
                saved_exact_usd=Decimal(m["saved_exact_usd"]),
                saved_semantic_usd=Decimal(m["saved_semantic_usd"]),
            )
            for model, m in _grouped(combos, "model").items()
        ),
        price=router.price_per_token,
        strong_model=strong_model(),
    )

    month_start = today.replace(day=1)
    history_start = min(month_start, today - timedelta(days=forecasting.HISTORY_DAYS))
    series = {
        v["bucket"].date(): float(v["cost"] or 0)
        for v in _daily_rows(tenant, history_start, today)
        .values("bucket")
        .annotate(cost=Sum("cost_usd"))
    }
    month_cost = Decimal(str(sum(c for day, c in series.items() if day >= month_start))).quantize(
        Decimal("0.00000001")
    )
    budget_usd = cfg.monthly_budget_usd
    budget = Budget(
        budget_usd,
        month_cost,
        min(int(month_cost / budget_usd * 100), 999) if budget_usd else None,
    )
    return UsageReport(
        query=query,
        totals=totals,
        daily=daily,
        by_feature=_breakdown(
            combos, "feature", cost, {c["feature"]: feature_label(c["feature"]) for c in combos}
        ),
        by_model=_breakdown(combos, "model", cost, {}),
        by_user=_breakdown(combos, "user_id", cost, _user_labels(c["user_id"] for c in combos)),
        by_api_key=_breakdown(
            combos, "api_key_id", cost, _key_labels(tenant, (c["api_key_id"] for c in combos))
        ),
        savings=saved,
        budget=budget,
        forecast=forecasting.month_end(sorted(series.items()), today),
        tokens_today=_tokens_today(tenant, today, cfg.tokens_per_day),
        plan=cfg.plan,
    )


def _tokens_today(tenant: Tenant, today: date, limit: int | None) -> TokensToday:
    hours = (
        UsageRollup.objects.filter(tenant=tenant, period=Period.HOUR, bucket__gte=day_start(today))
        .values("bucket")
        .annotate(tin=Sum("tokens_in"), tout=Sum("tokens_out"))
    )
    by_hour = dict.fromkeys(range(24), 0)
    for v in hours:
        by_hour[v["bucket"].hour] = (v["tin"] or 0) + (v["tout"] or 0)
    tokens = sum(by_hour.values())
    percent = min(int(tokens * 100 / limit), 999) if limit else None
    return TokensToday(tokens, limit, percent, sorted(by_hour.items()))
