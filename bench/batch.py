"""Batch summarisation benchmark: N documents end to end through a real Celery worker and
the local provider's batch API, with the worker killed (SIGKILL) mid-job.

    .venv/bin/python bench/batch.py [--docs N] [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops only what it started) and
migrates a throw-away database `bench_batch` (Redis db 9, also the broker). Then:
  1. seeds one enterprise tenant with N ready documents of three passages each (rows
     written directly: ingestion has its own benchmark, and is not what is measured);
  2. starts a prefork worker with one pool process, and starts one job over all N
     documents as the Documents page does (its submission enqueued on commit);
  3. sends the beat task `summaries.poll` every second, as beat would; when the batch has
     ended, the first poll is sent and the pool process is SIGKILLed `--kill-after` seconds
     later, in the middle of collecting the results (one transaction for the whole job);
     the main process hands the message back and a new pool process collects it again;
  4. counts summaries, failed items and ledger rows (a duplicate = a second row for one
     item), and samples the worker's resident memory (main and pool processes) throughout.
Prints a table and writes JSON (default bench/results/batch.json). Targets at 1,000
documents: failed 0, duplicate_ledger_rows 0, cost_ratio <= 0.55, worker RSS < 600 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import throwaway_db  # noqa: E402

BENCH_DB = "bench_batch"
REDIS_DB = 10
WORKER = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork"]
WORKER += ["--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
PASSAGES = (
    "Section {n}.{k} of the report: revenue in region {k} rose by {n} percent in the quarter, "
    "while costs fell by {k} percent. The team of {n} people shipped {k} releases on time."
)


def seed(docs: int) -> Any:
    """An enterprise tenant with ``docs`` ready documents of three passages each."""
    from django.conf import settings

    from apps.accounts.models import User
    from apps.core.db import tenant_context
    from apps.rag.models import Chunk, Document, DocumentStatus
    from apps.tenants.services import tenant_create

    owner = User.objects.create_user("batch@bench.example", "x" * 16)
    tenant = tenant_create(owner=owner, name="Batch bench", plan="enterprise")
    vector = [0.01] * settings.EMBEDDING_DIM
    with tenant_context(tenant.id):
        documents = Document.objects.bulk_create(
            Document(
                tenant=tenant,
                title=f"Report {n}",
                filename=f"report-{n}.md",
                sha256=hashlib.sha256(f"report-{n}".encode()).hexdigest(),
                status=DocumentStatus.READY,
            )
            for n in range(docs)
        )
        Chunk.objects.bulk_create(
            (
                Chunk(
                    tenant=tenant,
                    document=d,
                    ordinal=k,
                    content=PASSAGES.format(n=n, k=k),
                    token_count=45,
                    embedding=vector,
                )
                for n, d in enumerate(documents)
                for k in range(3)
            ),
            batch_size=2_000,
        )
    return owner, tenant, [str(d.id) for d in documents]


class RssSampler(threading.Thread):
    """The worker's resident memory (main process plus pool processes), sampled."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                pids = [self.pid, *pool_processes(self.pid)]
                self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in pids))
            except OSError:
                continue


def pool_processes(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db.models import Count

    from apps.core.db import tenant_context
    from apps.gateway.models import UsageRecord
    from apps.summaries import jobs, tasks
    from apps.summaries.models import DocumentSummary, JobStatus, SummaryJob
    from config.celery import app

    app.conf.task_always_eager = False
    owner, tenant, ids = seed(args.docs)
    log = ROOT / "bench" / "results" / "batch-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        worker = subprocess.Popen(WORKER, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    sampler = RssSampler(worker.pid)
    sampler.start()
    killed = ""
    try:
        began = time.perf_counter()
        job = jobs.start_job(
            tenant,
            user_id=owner.id,
            document_ids=ids,
            on_commit=lambda j: tasks.submit_job.delay(
                tenant_id=str(j.tenant_id), job_id=str(j.id)
            ),
        )
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            with tenant_context(tenant.id):
                job = SummaryJob.objects.get(id=job.id)
            if job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTED):
                break
            tasks.poll_running.delay()
            if not killed and job.status == JobStatus.SUBMITTED and batch_ended(job.batch):
                time.sleep(args.kill_after)
                (pool,) = pool_processes(worker.pid)
                os.kill(pool, signal.SIGKILL)
                killed = "yes"
            time.sleep(1)
        elapsed = time.perf_counter() - began
    finally:
        sampler.stopped.set()
        worker.terminate()
        worker.wait(30)
    with tenant_context(tenant.id):
        rows = UsageRecord.objects.filter(feature=jobs.FEATURE)
        duplicates = sum(
            r["n"] - 1 for r in rows.values("request_id").annotate(n=Count("id")).filter(n__gt=1)
        )
        summaries = DocumentSummary.objects.count()
        ledger_cost = sum((r.cost_usd for r in rows), Decimal(0))
    return {
        "quick": args.quick,
        "documents": args.docs,
        "status": str(job.status),
        "summaries": summaries,
        "failed": job.failed,
        "attempts": job.attempts,
        "worker_killed": killed or "no (the job ended before the kill point)",
        "worker_log": lost_task(log),
        "ledger_rows": rows.count(),
        "duplicate_ledger_rows": duplicates,
        "cost_batch_usd": float(ledger_cost),
        "cost_realtime_usd": float(job.realtime_cost_usd),
        "cost_ratio": float(ledger_cost / job.realtime_cost_usd) if job.realtime_cost_usd else 0.0,
        "elapsed_s": elapsed,
        "docs_per_s": args.docs / elapsed,
        "worker_peak_rss_mb": sampler.peak_kb / 1024,
    }


def lost_task(log: Path) -> str:
    """What the worker logged of the kill (its WorkerLostError), if anything."""
    for line in log.read_text(errors="replace").splitlines():
        if "raised error: WorkerLostError" in line:
            return line.split("raised error: ", 1)[1]
    return "none logged"


def batch_ended(batch: dict[str, Any] | None) -> bool:
    """Whether the provider says the job's batch has ended (asked as the poll asks)."""
    from apps.gateway import api as gateway

    if not batch or batch.get("inline"):
        return False
    return gateway.poll_batch(gateway.BatchHandle.from_dict(batch)).ended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="100 documents")
    parser.add_argument("--kill-after", type=float, default=0.3, help="seconds into collecting")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "batch.json"))
    args = parser.parse_args()
    if args.quick:
        args.docs = 100

    from apps.core import devstack

    started = devstack.up()
    try:
        throwaway_db.create(BENCH_DB, redis_db=REDIS_DB, LOCAL_PROVIDER_BATCH_DELAY_S="1")
        result = run(args)
    finally:
        try:
            throwaway_db.drop(BENCH_DB)
        finally:
            devstack.down(started)

    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = (
            f"{value:,.6f}"
            if isinstance(value, float) and value < 1
            else (f"{value:,.1f}" if isinstance(value, float) else str(value))
        )
        print(f"{key:<{width}}  {shown}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    ok = (
        result["failed"] == 0
        and result["duplicate_ledger_rows"] == 0
        and result["cost_ratio"] <= 0.55
        and result["worker_peak_rss_mb"] < 600
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
