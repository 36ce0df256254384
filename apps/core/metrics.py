"""Prometheus metrics: what the processes count, and what a scrape reads from the stores.

Two kinds, chosen so that any number of web workers and Celery workers report one truth:

- **Counted in the process** (requests, open event streams, gateway calls): prometheus
  client counters. With ``PROMETHEUS_MULTIPROC_DIR`` set (every process of a deployment
  gets the same empty directory, before it starts), each process writes its values to
  memory-mapped files there and a scrape sums them; without it, a single process reports
  its own (enough for ``runserver`` and tests). The open-streams gauge is ``livesum``:
  a dead worker's streams drop out.
- **Read at scrape time** (Celery queue depth, the billing meter backlog): computed from
  Redis or PostgreSQL when ``/metrics`` is asked, so they are right however many
  processes run. An app contributes one with ``register_scrape_collector`` from its
  ``AppConfig.ready`` (billing does; core adds the queue depth).

Labels are bounded: a view's URL name (never a path), a status code, a model name from
the configured list, a cache kind. No tenant id: there can be a million tenants.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis

from apps.core.redis_client import SharedConnectionPool

logger = logging.getLogger(__name__)

NAMESPACE = "starter"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- Counted in the process -----------------------------------------------------------

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP responses by view (URL name) and status code.",
    ["view", "method", "status"],
    namespace=NAMESPACE,
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to the response's headers, by view (a stream's body is not included).",
    ["view"],
    namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SSE_STREAMS = Gauge(
    "sse_streams_active",
    "Server-sent event streams open now, summed over live processes.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
GATEWAY_CALLS = Counter(
    "gateway_calls",
    "Gateway calls recorded in the ledger, by served model, cache result and status.",
    ["model", "cache", "status"],
    namespace=NAMESPACE,
)
GATEWAY_LATENCY = Histogram(
    "gateway_latency_seconds",
    "Gateway call latency, by served model and cache result.",
    ["model", "cache"],
    namespace=NAMESPACE,
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
GATEWAY_TOKENS = Counter(
    "gateway_tokens",
    "Tokens of gateway calls, by served model and direction (in/out).",
    ["model", "direction"],
    namespace=NAMESPACE,
)
GATEWAY_COST = Counter(
    "gateway_cost_usd",
    "Provider cost of gateway calls in US dollars, by served model and cache result.",
    ["model", "cache"],
    namespace=NAMESPACE,
)
GATEWAY_SAVED = Counter(
    "gateway_saved_usd",
    "Cost the caches saved in US dollars, by cache kind.",
    ["cache"],
    namespace=NAMESPACE,
)


def observe_gateway_call(
    *,
    model: str,
    cache: str,
    status: str,
    latency_ms: int,
    tokens_in: int,
    tokens_out: int,
    cost_usd: Decimal,
    saved_usd: Decimal,
) -> None:
    """One ledger row's worth of counters (gateway.ledger calls it as the row is written)."""
    model = model or "none"
    cache = cache or "miss"
    GATEWAY_CALLS.labels(model, cache, status).inc()
    GATEWAY_LATENCY.labels(model, cache).observe(max(latency_ms, 0) / 1000)
    GATEWAY_TOKENS.labels(model, "in").inc(max(tokens_in, 0))
    GATEWAY_TOKENS.labels(model, "out").inc(max(tokens_out, 0))
    if cost_usd > 0:
        GATEWAY_COST.labels(model, cache).inc(float(cost_usd))
    if saved_usd > 0:
        GATEWAY_SAVED.labels(cache).inc(float(saved_usd))


# --- Read at scrape time --------------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: list[ScrapeCollector] = []


def register_scrape_collector(collect: ScrapeCollector) -> None:
    """Add a function that yields metric families read from a store at each scrape.
    Call from ``AppConfig.ready`` (once per process)."""
    if collect not in _scrape_collectors:
        _scrape_collectors.append(collect)


def celery_queue_depth() -> Iterator[Metric]:
    """Messages waiting in the Celery broker (Redis list ``celery``) and taken by a
    worker but not yet acknowledged (kombu's ``unacked`` hash)."""
    pool = SharedConnectionPool.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=5
    )
    redis = Redis(connection_pool=pool)
    family = GaugeMetricFamily(
        f"{NAMESPACE}_celery_queue_depth",
        "Celery messages waiting (state=waiting) or being worked on (state=unacked).",
        labels=["queue", "state"],
    )
    family.add_metric(["celery", "waiting"], float(redis.llen("celery")))
    family.add_metric(["celery", "unacked"], float(redis.hlen("unacked")))
    yield family


class _Scrape(Collector):
    def collect(self) -> Iterator[Metric]:
        for collect in _scrape_collectors:
            try:
                yield from collect()
            except Exception:
                # One store down must not hide the others' metrics; the gap shows.
                logger.exception("metrics: a scrape-time collector failed")


class _ProcessLocal(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of processes that have exited. Gunicorn can say so in its
    ``child_exit`` hook; uvicorn's workers and Celery's pool cannot, so a scrape checks
    the pids named in the files (the directory is per host, so the pids are too)."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, another user's


def render() -> bytes:
    """The text exposition of every metric, summed over processes in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        _forget_dead_processes(directory)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessLocal())
    registry.register(_Scrape())
    return generate_latest(registry)


def token_matches(authorization: str) -> bool:
    """Whether an ``Authorization`` header carries ``METRICS_TOKEN`` (constant time)."""
    scheme, _, token = authorization.partition(" ")
    expected = settings.METRICS_TOKEN
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )
