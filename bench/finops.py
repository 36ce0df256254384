"""FinOps benchmark: usage rollups over a large ledger, the dashboard, the forecast.

    .venv/bin/python bench/finops.py [--rows N] [--tenants T] [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops only what it started) and
migrates a throw-away database `bench_finops` (Redis db 11). Then:
  1. T tenants; N ledger rows spread over them and over the last 90 days, bulk-inserted
     per tenant as the runtime role in each tenant's context (so the ledger's trigger
     queues them, as it does for the gateway's writes);
  2. times the rollup task's body (`finops.rollups.drain`) bringing all N rows in
     (`rollup_full_s`, `rollup_rows_per_s`);
  3. adds a day of new rows (N / 90) and times the catch-up (`rollup_catchup_s`);
  4. renders the Usage & cost page of sampled tenants through Django's test client, a
     signed-in owner, 60 requests after a warm-up (`tenant_dashboard_p95_ms`), and the
     operator console as a staff user, 20 requests after a warm-up
     (`operator_console_p95_ms`);
  5. what the trigger adds to one ledger write (`gateway.ledger.record_sync`, one
     statement outside a transaction): 2,000 writes each with the trigger on and off,
     in alternating rounds after a warm-up (p50);
  6. `forecast_mape`: 20 synthetic series (a trend, a weekday pattern, 5% noise), the
     month-end forecast made on each day of a month from day 2 to 27, against the
     true month total (mean absolute percentage error).
Prints a table and writes JSON (default bench/results/finops.json). Targets (issue 13, at
5,000,000 rows): tenant dashboard p95 <= 150 ms, operator console p95 <= 500 ms,
forecast_mape <= 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import throwaway_db  # noqa: E402

BENCH_DB = "bench_finops"
REDIS_DB = 11
DAYS = 90

# One tenant's rows in one statement: the features, models, users-or-keys, cache hits,
# errors and batch items the ledger holds, spread over the last 90 days.
BULK = """
INSERT INTO gateway_usagerecord
    (id, tenant_id, created_at, updated_at, user_id, api_key_id, feature, request_id,
     requested_model, served_model, tokens_in, tokens_out, cost_usd, cache,
     saved_cost_usd, status, error_code, latency_ms)
SELECT gen_random_uuid(), %(tenant)s::uuid, t, t,
       CASE WHEN n %% 3 = 0 THEN NULL ELSE %(user)s END,
       CASE WHEN n %% 3 = 0 THEN %(key)s::uuid END,
       (ARRAY['chat', 'api_chat', 'batch_summary', 'rag_ingest'])[1 + n %% 4],
       '',
       CASE WHEN n %% 4 = 2 THEN 'openai/local-fast' WHEN n %% 5 = 0 THEN 'smart' ELSE 'fast' END,
       CASE WHEN n %% 5 = 0 THEN 'openai/local-smart' ELSE 'openai/local-fast' END,
       100 + n %% 900, 20 + n %% 300,
       (100 + n %% 900) * 0.00000015 + (20 + n %% 300) * 0.0000006,
       CASE WHEN n %% 11 = 0 THEN 'exact' WHEN n %% 13 = 0 THEN 'semantic' ELSE '' END,
       CASE WHEN n %% 11 = 0 OR n %% 13 = 0 THEN 0.0002 ELSE 0 END,
       CASE WHEN n %% 17 = 0 THEN 'error' WHEN n %% 19 = 0 THEN 'aborted' ELSE 'ok' END,
       '', 40
FROM generate_series(1, %(rows)s) AS n,
     LATERAL (SELECT now() - (%(span_s)s * random()) * interval '1 second' AS t) AS ts
"""


def make_tenants(count: int) -> list[tuple[Any, int, Any]]:
    """(tenant, owner id, an API key id) for each of ``count`` new tenants."""
    import uuid

    from apps.accounts.models import User
    from apps.tenants.services import tenant_create

    out = []
    for n in range(count):
        owner = User.objects.create_user(f"finops-{n}@bench.example", "x" * 16)
        tenant = tenant_create(owner=owner, name=f"FinOps {n}", plan="pro")
        out.append((tenant, owner.pk, uuid.uuid4()))
    return out


def load(tenants: list[tuple[Any, int, Any]], rows: int, span_s: int) -> None:
    from django.db import connection

    from apps.core.db import tenant_context

    per_tenant = max(1, rows // len(tenants))
    for tenant, user_id, key_id in tenants:
        with tenant_context(tenant.id), connection.cursor() as cursor:
            cursor.execute(
                BULK,
                {
                    "tenant": str(tenant.id),
                    "user": user_id,
                    "key": str(key_id),
                    "rows": per_tenant,
                    "span_s": span_s,
                },
            )


def timed_drain() -> tuple[float, int]:
    from apps.finops import rollups

    began = time.perf_counter()
    report = rollups.drain()
    return time.perf_counter() - began, report.rows


def dashboard_p95(tenants: list[tuple[Any, int, Any]], requests: int) -> float:
    from django.test import Client
    from django.urls import reverse

    from apps.accounts.models import User

    sample = random.Random(3).sample(tenants, min(len(tenants), 10))
    clients = []
    for tenant, user_id, _ in sample:
        client = Client(HTTP_HOST="127.0.0.1")  # an allowed host, as a browser would send
        client.force_login(User.objects.get(pk=user_id))
        url = reverse("finops:usage", args=[tenant.slug])
        assert client.get(url).status_code == 200  # warm-up (tokenizer, templates)
        clients.append((client, url))
    times = []
    for i in range(requests):
        client, url = clients[i % len(clients)]
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return statistics.quantiles(times, n=20)[18]


def operator_p95(requests: int) -> float:
    """The operator console (`/operator/`) rendered as a staff user, after a warm-up."""
    from django.test import Client

    from apps.accounts.models import User

    staff = User.objects.create_user("staff@bench.example", "x" * 16, is_staff=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    assert client.get("/operator/").status_code == 200
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get("/operator/")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return statistics.quantiles(times, n=20)[18]


def analyze_rollups() -> None:
    """Statistics on the tables the drain filled, as autovacuum would gather (the owner
    may ANALYZE them; the runtime role may not)."""
    import psycopg

    with psycopg.connect(throwaway_db.owner_url(BENCH_DB), autocommit=True) as conn:
        conn.execute("ANALYZE finops_usagerollup, finops_dailyfeaturetotal, finops_dailyactiveuser")


def trigger_cost(tenant: Any, writes: int) -> dict[str, float]:
    """Median ms of one ledger write with the trigger, and with it disabled (owner role):
    after a warm-up, in alternating rounds, so neither side gets the warm cache."""
    import psycopg

    from apps.gateway.ledger import LedgerEntry, record_sync
    from apps.gateway.types import CallContext

    def times(count: int) -> list[float]:
        out = []
        for n in range(count):
            entry = LedgerEntry(
                ctx=CallContext(tenant_id=tenant.id, feature="chat", request_id=f"t{n}"),
                requested_model="fast",
                served_model="openai/local-fast",
                tokens_in=100,
                tokens_out=20,
            )
            began = time.perf_counter()
            record_sync(entry)
            out.append((time.perf_counter() - began) * 1000)
        return out

    times(200)
    on: list[float] = []
    off: list[float] = []
    with psycopg.connect(throwaway_db.owner_url(BENCH_DB), autocommit=True) as conn:
        for _ in range(4):
            on += times(writes // 4)
            conn.execute("ALTER TABLE gateway_usagerecord DISABLE TRIGGER finops_enqueue_usage")
            try:
                off += times(writes // 4)
            finally:
                conn.execute("ALTER TABLE gateway_usagerecord ENABLE TRIGGER finops_enqueue_usage")
    return {
        "ledger_write_p50_ms": statistics.median(on),
        "ledger_write_p50_ms_no_trigger": statistics.median(off),
    }


def forecast_mape(series_count: int = 20) -> float:
    from apps.finops import forecast

    rng = random.Random(11)
    errors = []
    for _ in range(series_count):
        level, trend = rng.uniform(20, 200), rng.uniform(-0.2, 1.0)
        pattern = [rng.uniform(0.3, 1.3) for _ in range(7)]
        origin = date(2026, 9, 1)
        month = [date(2026, 12, d) for d in range(1, 32)]

        days = [origin + timedelta(days=i) for i in range((month[-1] - origin).days + 1)]
        costs = {
            day: max(0.0, (level + trend * (day - origin).days) * pattern[day.weekday()])
            * rng.gauss(1, 0.05)
            for day in days
        }
        total = sum(costs[d] for d in month)
        for today in month[1:27]:
            # What the rollups hold at midday: full days before, half of today.
            known = [(d, c) for d, c in costs.items() if d < today] + [(today, costs[today] / 2)]
            predicted = forecast.month_end(known, today).expected
            errors.append(abs(predicted - total) / total)
    return 100 * statistics.fmean(errors)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    tenants = make_tenants(args.tenants)
    load(tenants, args.rows, DAYS * 86_400)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    full_s, full_rows = timed_drain()
    day_rows = args.rows // DAYS
    load(tenants, day_rows, 86_400)
    catchup_s, catchup_rows = timed_drain()
    analyze_rollups()
    result: dict[str, Any] = {
        "quick": args.quick,
        "tenants": args.tenants,
        "ledger_rows": full_rows,
        "rollup_full_s": full_s,
        "rollup_rows_per_s": full_rows / full_s if full_s else 0.0,
        "day_rows": catchup_rows,
        "rollup_catchup_s": catchup_s,
        "tenant_dashboard_p95_ms": dashboard_p95(tenants, 60),
        "operator_console_p95_ms": operator_p95(20),
        **trigger_cost(tenants[0][0], 400 if args.quick else 2_000),
        "forecast_mape": forecast_mape(),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 100 tenants")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "finops.json"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.tenants = 100_000, 100

    from apps.core import devstack

    started = devstack.up()
    try:
        throwaway_db.create(BENCH_DB, redis_db=REDIS_DB)
        result = run(args)
    finally:
        try:
            throwaway_db.drop(BENCH_DB)
        finally:
            devstack.down(started)

    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    ok = (
        result["tenant_dashboard_p95_ms"] <= 150
        and result["operator_console_p95_ms"] <= 500
        and result["forecast_mape"] <= 10
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
