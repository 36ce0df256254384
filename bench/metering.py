"""Metering benchmark: ledger rows to Stripe Billing Meters, exactly once, through an outage.

    .venv/bin/python bench/metering.py [--rows N] [--tenants T] [--callers C] [--outage S]
                                       [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops only what it started), a local
Stripe server of its own on a free port, and migrates a throw-away database
`bench_metering` (Redis db 8). Then:
  1. T tenants, each with a Stripe customer and a live subscription, and the catalogue
     (`stripe_sync`);
  2. writes N billable ledger rows from C concurrent callers (`gateway.ledger.record_sync`,
     the real write: ledger row and outbox entry in one transaction);
  3. drains them (`billing.metering.drain`, the beat task's body) in passes half a
     second apart. Stripe goes down (every call answers 503) when the first half of the
     rows is written, and comes back after `--outage` seconds; the second half is written
     during the outage;
  4. compares the tokens the ledger billed with Stripe's meter summaries per customer.
Prints a table and writes JSON (default bench/results/metering.json). Targets: lost 0,
duplicates 0, metered_units_local == metered_units_stripe, rows_per_s_drained >= 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import throwaway_db  # noqa: E402

BENCH_DB = "bench_metering"
REDIS_DB = 8


def _control(server: str, route: str, body: dict[str, Any]) -> None:
    httpx.post(f"{server}/_local/{route}", json=body, timeout=10).raise_for_status()


def make_tenants(count: int) -> list[tuple[uuid.UUID, str]]:
    from apps.accounts.models import User
    from apps.billing import stripe_api
    from apps.billing.models import BillingAccount
    from apps.core.db import tenant_context
    from apps.tenants.services import tenant_create

    tenants = []
    for n in range(count):
        owner = User.objects.create_user(f"meter-{n}@bench.example", "x" * 16)
        tenant = tenant_create(owner=owner, name=f"Meter {n}", plan="pro")
        customer = stripe_api.customer_create(
            tenant_id=str(tenant.id), name=tenant.name, email=owner.email
        )
        with tenant_context(tenant.id):
            BillingAccount.objects.create(
                tenant=tenant,
                stripe_customer_id=customer,
                subscription_id=f"sub_bench_{n}",
                subscription_status="active",
                subscribed_plan="pro",
            )
        tenants.append((tenant.id, customer))
    return tenants


def write_rows(tenants: list[tuple[uuid.UUID, str]], rows: int, callers: int) -> int:
    """``rows`` ledger rows over the tenants from ``callers`` threads; tokens written."""
    from django.db import connections

    from apps.gateway.ledger import LedgerEntry, record_sync
    from apps.gateway.types import CallContext

    def one(n: int) -> int:
        tenant_id, _ = tenants[n % len(tenants)]
        tokens_in, tokens_out = 50 + n % 200, 10 + n % 90
        ctx = CallContext(tenant_id=tenant_id, feature="chat", request_id=f"bench-{n}")
        record_sync(
            LedgerEntry(ctx=ctx, requested_model="fast", tokens_in=tokens_in, tokens_out=tokens_out)
        )
        return tokens_in + tokens_out

    def batch(start: int) -> int:
        try:
            return sum(one(n) for n in range(start, rows, callers))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(callers) as pool:
        return sum(pool.map(batch, range(callers)))


def pending() -> int:
    from django.utils import timezone

    from apps.billing import selectors

    return len(selectors.tenants_to_meter(timezone.now() + timedelta(days=1)))


def stripe_units(tenants: list[tuple[uuid.UUID, str]], since: Any) -> int:
    from apps.billing import stripe_api

    hour = since.replace(minute=0, second=0, microsecond=0)
    return sum(
        summary.tokens
        for _, customer in tenants
        for summary in stripe_api.meter_summaries(
            customer_id=customer, start=hour, end=hour + timedelta(hours=3)
        )
    )


def run(args: argparse.Namespace, stripe: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django.utils import timezone

    from apps.billing import metering

    call_command("stripe_sync", stdout=open(os.devnull, "w"))  # noqa: SIM115
    tenants = make_tenants(args.tenants)
    started = timezone.now()
    half = args.rows // 2
    written = write_rows(tenants, half, args.callers)
    rows_drained, drain_s = 0, 0.0

    def drain_pass() -> None:
        nonlocal rows_drained, drain_s
        began = time.perf_counter()
        report = metering.drain()
        drain_s += time.perf_counter() - began if report.rows or report.batches_sent else 0
        rows_drained += report.rows

    # The outage starts as the second half is written, and ends on its own.
    _control(stripe, "faults", {"down_seconds": args.outage})
    outage_began = time.monotonic()
    second = ThreadPoolExecutor(1).submit(write_rows, tenants, args.rows - half, args.callers)
    while not second.done() or pending():
        drain_pass()
        if time.monotonic() - outage_began > args.outage + 120:
            raise SystemExit("The drain did not finish two minutes after the outage.")
        time.sleep(0.5)
    written += second.result()
    drain_pass()
    metered = stripe_units(tenants, started)
    return {
        "quick": args.quick,
        "tenants": args.tenants,
        "callers": args.callers,
        "ledger_rows": args.rows,
        "rows_drained": rows_drained,
        "metered_units_local": written,
        "metered_units_stripe": metered,
        "lost": max(0, written - metered),
        "duplicates": max(0, metered - written),
        "rows_per_s_drained": rows_drained / drain_s if drain_s else 0.0,
        "outage_s": args.outage,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--outage", type=int, default=5, help="seconds Stripe is down")
    parser.add_argument("--quick", action="store_true", help="4,000 rows, 5 tenants")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "metering.json"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.tenants = 4_000, 5

    from apps.core import devstack

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stripe = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "apps.billing.local_stripe", "--port", str(port)]
    started = devstack.up()
    server = None
    try:
        server = subprocess.Popen(  # noqa: S603 - our own module
            command,
            cwd=ROOT,
            env={**os.environ, "LOCAL_STRIPE_WEBHOOK_URL": ""},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if httpx.get(f"{stripe}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        throwaway_db.create(BENCH_DB, redis_db=REDIS_DB, STRIPE_API_BASE=stripe, STRIPE_RETRIES="0")
        result = run(args, stripe)
    finally:
        try:
            throwaway_db.drop(BENCH_DB)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            devstack.down(started)

    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    ok = result["lost"] == 0 and result["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
