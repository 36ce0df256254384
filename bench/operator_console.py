"""Operator console benchmark: render time over many tenants' rollups.

    .venv/bin/python bench/operator_console.py [--tenants T] [--days D] [--requests R]
                                       [--as-of YYYY-MM-DD] [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops only what it started) and
migrates a throw-away database `bench_operator` (Redis db 12). Then:
  1. T tenants (the real `tenant_create`), each with D days of daily rollups for four
     features and eight users, and the operator's daily totals made from them (written
     per tenant in its own context, as the rollup job does), and one paid invoice this
     month;
  2. renders the console (`/operator/`, the real view through Django's test client, as a
     staff user) R times and times each of its audited functions alone; then the same as
     of 23:00 UTC on the last day of last month (or `--as-of YYYY-MM-DD`), when the
     month-to-date figures cover a whole month: the console's heaviest day.
Prints a table and writes JSON (default bench/results/operator.json). Target (issue 13):
`operator_console_p95_ms` and `operator_console_month_end_p95_ms` at most 500 at 1,000
tenants.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import throwaway_db  # noqa: E402

BENCH_DB = "bench_operator"
REDIS_DB = 12
FEATURES = ("chat", "rag", "batch_summary", "api")
USERS_PER_TENANT = 8
TARGET_P95_MS = 500

# One tenant's rollups: D days x 4 features x 8 users, one statement in its context.
_ROLLUPS = """
INSERT INTO finops_usagerollup (
    id, created_at, updated_at, tenant_id, period, bucket, feature, model, user_id,
    api_key_id, calls, tokens_in, tokens_out, cost_usd, exact_hits, semantic_hits,
    saved_exact_usd, saved_semantic_usd, errors, stopped, batch_calls, batch_tokens_in,
    batch_tokens_out, batch_cost_usd
)
SELECT gen_random_uuid(), now(), now(), %(tenant)s, 'day',
       date_trunc('day', now()) - make_interval(days => d), f, 'openai/local-fast', u,
       NULL, 10 + (d + u) %% 7, 4000 + 37 * u, 1500 + 11 * d,
       (0.0004 + 0.0001 * ((d * u) %% 5)) * (1 + (%(n)s %% 13)), 1, 1, 0.001, 0.001, 0, 0,
       0, 0, 0, 0
FROM generate_series(0, %(days)s - 1) AS d,
     unnest(%(features)s::text[]) AS f,
     unnest(%(users)s::bigint[]) AS u
"""

# The operator's tables of the same tenant, as the drain keeps them beside the rollups:
# the daily rollups summed per day and feature, one row per user-day, the day's totals
# and user-days, each month's totals per feature, and its users with their first day.
_DAILY_TOTALS = (
    """
INSERT INTO finops_dailyfeaturetotal
    (id, tenant_id, created_at, updated_at, day, feature, calls, tokens_in, tokens_out,
     cost_usd, user_tokens, user_cost_usd)
SELECT gen_random_uuid(), %(tenant)s, now(), now(), bucket, feature, sum(calls),
       sum(tokens_in), sum(tokens_out), sum(cost_usd),
       coalesce(sum(tokens_in + tokens_out) FILTER (WHERE user_id IS NOT NULL), 0),
       coalesce(sum(cost_usd) FILTER (WHERE user_id IS NOT NULL), 0)
FROM finops_usagerollup
WHERE tenant_id = %(tenant)s AND period = 'day'
GROUP BY bucket, feature
""",
    """
INSERT INTO finops_dailyactiveuser (id, tenant_id, created_at, updated_at, day, user_id)
SELECT gen_random_uuid(), %(tenant)s, now(), now(), bucket, user_id
FROM finops_usagerollup
WHERE tenant_id = %(tenant)s AND period = 'day' AND user_id IS NOT NULL
GROUP BY bucket, user_id
""",
    """
INSERT INTO finops_dailytenanttotal
    (id, tenant_id, created_at, updated_at, day, calls, tokens_in, tokens_out, cost_usd,
     user_tokens, user_cost_usd, user_days)
SELECT gen_random_uuid(), %(tenant)s, now(), now(), f.day, sum(f.calls), sum(f.tokens_in),
       sum(f.tokens_out), sum(f.cost_usd), sum(f.user_tokens), sum(f.user_cost_usd),
       (SELECT count(*) FROM finops_dailyactiveuser a
        WHERE a.tenant_id = %(tenant)s AND a.day = f.day)
FROM finops_dailyfeaturetotal f
WHERE f.tenant_id = %(tenant)s
GROUP BY f.day
""",
    """
INSERT INTO finops_monthlyfeaturetotal
    (id, tenant_id, created_at, updated_at, month, feature, calls, tokens_in, tokens_out,
     cost_usd)
SELECT gen_random_uuid(), %(tenant)s, now(), now(), date_trunc('month', day, 'UTC'), feature,
       sum(calls), sum(tokens_in), sum(tokens_out), sum(cost_usd)
FROM finops_dailyfeaturetotal
WHERE tenant_id = %(tenant)s
GROUP BY date_trunc('month', day, 'UTC'), feature
""",
    """
INSERT INTO finops_monthlyactiveuser
    (id, tenant_id, created_at, updated_at, month, user_id, first_day)
SELECT gen_random_uuid(), %(tenant)s, now(), now(), date_trunc('month', day, 'UTC'),
       user_id, min(day)
FROM finops_dailyactiveuser
WHERE tenant_id = %(tenant)s
GROUP BY date_trunc('month', day, 'UTC'), user_id
""",
)
OPERATOR_TABLES = (
    "finops_usagerollup",
    "finops_dailyfeaturetotal",
    "finops_dailyactiveuser",
    "finops_dailytenanttotal",
    "finops_monthlyfeaturetotal",
    "finops_monthlyactiveuser",
)


def seed(tenants: int, days: int, as_of: datetime) -> int:
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.billing.models import InvoiceRecord
    from apps.core.db import tenant_context
    from apps.tenants.services import tenant_create

    users = [
        User.objects.create_user(f"op-user-{n}@bench.example", "x" * 16)
        for n in range(USERS_PER_TENANT)
    ]
    user_ids = [u.pk for u in users]
    rows = 0
    for n in range(tenants):
        tenant = tenant_create(owner=users[n % USERS_PER_TENANT], name=f"Operator {n}")
        with tenant_context(tenant.id), connection.cursor() as cursor:
            cursor.execute(
                _ROLLUPS,
                {
                    "tenant": str(tenant.id),
                    "n": n,
                    "days": days,
                    "features": list(FEATURES),
                    "users": user_ids,
                },
            )
            rows += cursor.rowcount
            for sql in _DAILY_TOTALS:
                cursor.execute(sql, {"tenant": str(tenant.id)})
            # A paid invoice this month and one in the month-end run's month, so both
            # pages list the same tenants (flagged and not) and render the same table.
            for suffix, paid_at in (("", timezone.now()), ("_end", as_of - timedelta(days=1))):
                InvoiceRecord.objects.create(
                    tenant=tenant,
                    stripe_invoice_id=f"in_bench_{n}{suffix}",
                    status="paid",
                    currency="usd",
                    amount_due_cents=4_900,
                    amount_paid_cents=4_900,
                    paid_at=paid_at,
                )
    import psycopg

    # Statistics, as autovacuum would gather after such a load (the owner may ANALYZE).
    with psycopg.connect(throwaway_db.owner_url(BENCH_DB), autocommit=True) as conn:
        conn.execute(f"ANALYZE {', '.join(OPERATOR_TABLES)}")
    return rows


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def render(client: Any, requests: int) -> list[float]:
    """Milliseconds of ``requests`` renders of the console, after a warm-up."""
    assert client.get("/operator/").status_code == 200
    pages = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/operator/")
        pages.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return pages


def time_functions(now: datetime, actor_id: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of each audited function alone, as the console calls it."""
    from apps.finops import operator

    period = operator.month_to_date(now)
    # What is timed must read the seeded figures: every tenant's cost and four features,
    # the same whether read from the month tables or by adding up the days.
    found = operator.feature_costs(period, actor_id=actor_id, reason="b")
    by_days = operator.feature_costs(
        operator.Period(period.start - timedelta(microseconds=1), now, now, now),
        actor_id=actor_id,
        reason="b",
    )
    assert len(found) == len(FEATURES), found
    assert sorted((f.feature, f.calls, f.cost_usd, f.tenants) for f in found) == sorted(
        (f.feature, f.calls, f.cost_usd, f.tenants) for f in by_days
    )
    calls: dict[str, Callable[[], object]] = {
        "tenants": lambda: operator.tenant_economics(period, actor_id=actor_id, reason="b"),
        "units": lambda: operator.cost_model(now, actor_id=actor_id, reason="b"),
        "features": lambda: operator.feature_costs(period, actor_id=actor_id, reason="b"),
        "daily": lambda: operator.daily_costs(now, 30, actor_id=actor_id, reason="b"),
    }
    functions = {}
    for name, call in calls.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        functions[name] = round(statistics.median(times), 1)
    return functions


def measure(requests: int, as_of: datetime) -> dict[str, Any]:
    """The console today, and as of ``as_of`` (the last day of a month: its month to
    date is the whole month, the heaviest case). For the second, the clock the view and
    the functions' callers read is set to ``as_of`` (``django.utils.timezone.now``); the
    database, the functions and the page are the real ones."""
    from unittest import mock

    from django.test import Client
    from django.utils import timezone

    from apps.accounts.models import User

    staff = User.objects.create_user("staff@bench.example", "x" * 16, is_staff=True)
    client = Client(SERVER_NAME="127.0.0.1")  # an allowed host outside the test runner
    client.force_login(staff)
    repeats = max(3, requests // 2)
    pages = render(client, requests)
    functions = time_functions(timezone.now(), staff.pk, repeats)
    with mock.patch.object(timezone, "now", return_value=as_of):
        end_pages = render(client, requests)
        end_functions = time_functions(as_of, staff.pk, repeats)
    return {
        "operator_console_p50_ms": round(percentile(pages, 50), 1),
        "operator_console_p95_ms": round(percentile(pages, 95), 1),
        "function_p50_ms": functions,
        "as_of": f"{as_of:%Y-%m-%d %H:%M} UTC",
        "operator_console_month_end_p50_ms": round(percentile(end_pages, 50), 1),
        "operator_console_month_end_p95_ms": round(percentile(end_pages, 95), 1),
        "function_month_end_p50_ms": end_functions,
    }


def month_end(raw: str | None, days: int) -> datetime:
    """The month-end run's moment: 23:00 UTC of ``--as-of`` (default: the last day of
    last month). It must lie in the seeded days, so the month and the trend's month
    before it have data."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if raw is None:
        day = today.replace(day=1) - timedelta(days=1)
    else:
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise SystemExit(f"--as-of {raw!r}: give a date as YYYY-MM-DD.") from None
    if not today - timedelta(days=days - 1) <= day < today:
        raise SystemExit(
            f"--as-of {day:%Y-%m-%d}: give a day before today within the {days} days seeded "
            f"(from {today - timedelta(days=days - 1):%Y-%m-%d}), e.g. the last day of a month."
        )
    return day + timedelta(hours=23)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="100 tenants, 62 days")
    parser.add_argument(
        "--as-of",
        help="render the console also as of this day, 23:00 UTC (YYYY-MM-DD; default: the "
        "last day of last month)",
    )
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "operator.json"))
    args = parser.parse_args()
    if args.quick:
        args.tenants, args.days, args.requests = 100, 62, 10
    # The month-end day must be one of the seeded days (and its month seeded, to mean much).
    as_of = month_end(args.as_of, args.days)

    from apps.core import devstack

    started = devstack.up()
    try:
        throwaway_db.create(BENCH_DB, redis_db=REDIS_DB)
        try:
            t0 = time.perf_counter()
            rows = seed(args.tenants, args.days, as_of)
            seeded_s = time.perf_counter() - t0
            result: dict[str, Any] = {
                "tenants": args.tenants,
                "days": args.days,
                "rollup_rows": rows,
                "seed_s": round(seeded_s, 1),
                **measure(args.requests, as_of),
            }
        finally:
            throwaway_db.drop(BENCH_DB)
    finally:
        devstack.down(started)
    print(f"\n{'measure':<34} {'value':>12}")
    for key, value in result.items():
        if isinstance(value, dict):
            for name, ms in value.items():
                print(f"{key + ' ' + name:<34} {ms:>12}")
        else:
            print(f"{key:<34} {value:>12}")
    print()
    for key in ("operator_console_p95_ms", "operator_console_month_end_p95_ms"):
        verdict = "met" if result[key] <= TARGET_P95_MS else "NOT met"
        print(f"target {key} <= {TARGET_P95_MS} at 1,000 tenants: {verdict}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
