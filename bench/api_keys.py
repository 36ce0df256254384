"""API key check benchmark: what the anomaly detection adds to each authenticated request.

    .venv/bin/python bench/api_keys.py [--requests N] [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops only what it started) and
migrates a throw-away database `bench_api_keys` (Redis db 9). One tenant, one key, then
N sequential calls of:
  1. `anomaly.observe` alone (the one Redis script per request);
  2. `services.api_key_authenticate` as every API request runs it (the key lookup under
     RLS, the tenant row, the last-use write at most once a minute, the anomaly check);
  3. the same with the anomaly check switched off (the baseline before it existed).
Also counts the SQL writes of a steady-state request (after the first of the minute).
Prints a table and writes JSON (default bench/results/api_keys.json). Targets: 0
database writes per request; added p50 <= 0.5 ms (one Redis round trip, on a quiet
machine). Exits 1 if a request wrote to the database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import report, throwaway_db  # noqa: E402

BENCH_DB = "bench_api_keys"
REDIS_DB = 9


def timed(fn: Callable[[], object], n: int, warm_up: int = 50) -> list[float]:
    """Milliseconds of each of ``n`` calls (after ``warm_up`` calls)."""
    for _ in range(warm_up):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def run(n: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User
    from apps.api import anomaly, services
    from apps.core.db import tenant_context
    from apps.tenants.models import Membership
    from apps.tenants.services import tenant_create

    owner = User.objects.create_user("keys@bench.example", "x" * 16)
    tenant = tenant_create(owner=owner, name="Bench keys")
    with tenant_context(tenant.id):
        actor = Membership.objects.select_related("user").get(tenant=tenant, user=owner)
        key, raw = services.api_key_create(tenant=tenant, actor=actor, name="b", scopes=["read"])

    observe = timed(lambda: anomaly.observe(key.id, "203.0.113.7"), n)

    def authenticate() -> object:
        return services.api_key_authenticate(raw, client_ip="203.0.113.7")

    def authenticate_unchecked() -> object:
        real = anomaly.observe
        anomaly.observe = lambda *args, **kwargs: None
        try:
            return authenticate()
        finally:
            anomaly.observe = real

    # Interleaved, so that load from anything else on the machine hits both alike.
    with_check: list[float] = []
    without: list[float] = []
    for _ in range(n // 10):
        with_check += timed(authenticate, 10, warm_up=0)
        without += timed(authenticate_unchecked, 10, warm_up=0)
    with CaptureQueriesContext(connection) as queries:
        services.api_key_authenticate(raw, client_ip="203.0.113.7")
    writes = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]
    return {
        "requests": n,
        "observe_p50_ms": round(p(observe, 50), 3),
        "observe_p95_ms": round(p(observe, 95), 3),
        "authenticate_p50_ms": round(p(with_check, 50), 3),
        "authenticate_p95_ms": round(p(with_check, 95), 3),
        "authenticate_without_check_p50_ms": round(p(without, 50), 3),
        "added_p50_ms": round(p(with_check, 50) - p(without, 50), 3),
        "added_p95_ms": round(p(with_check, 95) - p(without, 95), 3),
        "db_writes_per_request": len(writes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true", help="1,000 requests")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "api_keys.json"))
    args = parser.parse_args()
    if args.quick:
        args.requests = 1_000

    from apps.core import devstack

    started = devstack.up()
    try:
        throwaway_db.create(BENCH_DB, redis_db=REDIS_DB)
        result = run(args.requests)
    finally:
        try:
            throwaway_db.drop(BENCH_DB)
        finally:
            devstack.down(started)

    report.print_and_write(result, args.json)
    return 0 if result["db_writes_per_request"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
