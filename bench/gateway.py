"""Gateway benchmark: what the pipeline costs on top of LiteLLM, and LiteLLM on top of HTTP.

    .venv/bin/python bench/gateway.py [--quick] [--json FILE]

Starts the embedded stack if it is not running (and stops what it started), migrates a
throw-away database `bench_app`, and measures against the local provider (unpaced):
  1. per-call latency of raw httpx, bare litellm.acompletion, LiteLLM's Router, and the
     gateway's complete() with caches off (the whole pipeline: config, validation,
     guardrails, Redis limit and budget reservations, the provider call through the
     relay, ledger row) and with caches on (a miss: exact lookup, an embedding call, a
     pgvector search); the same for one embedding (raw httpx, the gateway's embed());
  2. where the pipeline's time goes: each step timed inside complete() (caches off),
     with its share of the call;
  3. streaming chunks per CPU-second in this process, gateway vs bare litellm;
  4. semantic cache lookup latency with 100k entries (10k with --quick).
Prints tables and writes JSON (default bench/results/gateway.json).

    .venv/bin/python bench/gateway.py --reader-lookup [--sample 600] [--filler 50000]
        [--rounds 3] [--json FILE]

runs only ``reader_lookup`` (default JSON bench/results/gateway_reader_lookup.json):
``lookup_sync`` (the pgvector query and the decision of the returned candidates; the
question's embedding made beforehand, as the gateway bench times the lookup) on queries
that reach the decision's reader, version 7 and version 8 (all candidates past steps 1-2
read as one batch, and the first only) in alternating passes. Keys: ``entries`` (the
tenant's: the development pairs' cached questions, real embeddings, plus ``filler``
random vectors that load the HNSW index and are never candidates), ``queries`` (the
sample's new questions), ``reached_share`` (lookups where a candidate passed steps 0-2,
i.e. version 8 ran the reader), ``candidates_read_mean`` (per such lookup), and per
decision (``v7``, ``v8``, ``v8_first``, ``v9_first``: version 7, then the reader on the first
candidate it refused past steps 0-2): ``reached_p50_ms`` / ``reached_p95_ms`` (over
the lookups that reach the reader, every pass pooled), ``all_p50_ms`` / ``all_p95_ms``,
``served_share``; ``load_average`` before and after. Test8 is never read.

    .venv/bin/python bench/gateway.py --guardrails-ttft [--texts 150] [--provider-ttft-ms 150]
        [--json FILE]

runs only ``guardrails_ttft`` (default JSON bench/results/gateway_guardrails_ttft.json, ADR
0019 (5)): the time to the first token of a stream through ``api.stream_chat``, caches
off, the local provider answering after ``--provider-ttft-ms``, for the ordinary texts of
the guardrails benchmark's headline sets (a new writer's text, which reaches the injection
encoder) under four policies, each text under each in turn: injections ``off``, ``flag``
(the default: the encoder beside the provider's call), ``block_in_line`` (the whole scan
before the provider) and ``block_held`` (the provider's call beside the encoder, the first
token held until the verdict). Keys per policy: ``ttft_p50_ms_<policy>``,
``ttft_p95_ms_<policy>``, ``added_p50_ms_<policy>`` / ``added_p95_ms_<policy>`` (the
same text's time to first token less its time with injections off), ``blocked_<policy>``
(ordinary texts refused, left out of the times).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench import throwaway_db  # noqa: E402

if TYPE_CHECKING:
    from apps.tenants.models import Tenant

BENCH_DB = "bench_app"
# Limits and a budget that never refuse, so their steps run on every call as in production.
NO_REFUSAL = {"tokens_per_day": 10**12, "requests_per_minute": 10**7}
BUDGET_USD = 10**6
FAST = {"X-Dev-TTFT-Ms": "0", "X-Dev-Tokens-Per-S": "0"}
MESSAGES = [{"role": "user", "content": "Summarise the benefits of row-level security."}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup_database() -> None:
    throwaway_db.create(BENCH_DB, redis_db=2)


def drop_database() -> None:
    throwaway_db.drop(BENCH_DB)


def make_tenant(name: str, **ai: Any) -> Tenant:
    from apps.accounts.models import User
    from apps.core.db import tenant_context
    from apps.gateway.models import AISettings
    from apps.tenants.services import tenant_create

    user = User.objects.create_user(f"{name.lower().replace(' ', '-')}@bench.example", "x" * 16)
    tenant = tenant_create(owner=user, name=name, plan="enterprise")
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(tenant=tenant, defaults=ai)
    return tenant


async def time_calls(
    fn: Callable[[], Awaitable[None]], n: int, cpu: list[float] | None = None
) -> list[float]:
    """Milliseconds per call; with ``cpu``, the process's CPU milliseconds per call (all
    its threads: the settler's work after a call included) are appended to it."""
    for _ in range(max(3, n // 10)):  # warm-up: connections, imports, caches
        await fn()
    out = []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        await fn()
        out.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
    return out


async def latency(n: int, tenants: dict[str, Tenant]) -> dict[str, list[float]]:
    import httpx
    from django.conf import settings

    from apps.gateway import api
    from apps.gateway.router import litellm_module
    from apps.gateway.types import CallContext

    litellm = litellm_module()
    base = settings.LOCAL_PROVIDER_URL
    client = httpx.AsyncClient(timeout=30)
    body = {"model": "local-fast", "messages": MESSAGES, "max_tokens": 64}

    async def raw() -> None:
        r = await client.post(f"{base}/v1/chat/completions", json=body, headers=FAST)
        r.raise_for_status()

    async def bare() -> None:
        await litellm.acompletion(
            model="openai/local-fast",
            api_base=f"{base}/v1",
            api_key="local",
            messages=MESSAGES,
            max_tokens=64,
            extra_headers=FAST,
        )

    from apps.gateway.router import get_router

    async def routed() -> None:
        await get_router().acompletion(
            model="fast", messages=MESSAGES, max_tokens=64, extra_headers=FAST
        )

    counter = iter(range(10**9))

    def gateway_call(tenant: Tenant) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            # A new question each time: always a cache miss.
            messages = [{"role": "user", "content": f"{MESSAGES[0]['content']} #{next(counter)}"}]
            ctx = CallContext(tenant_id=tenant.id, feature="bench")
            await api.complete(ctx, messages, max_tokens=64, extra_headers=FAST)

        return call

    async def raw_embed() -> None:
        text = f"What does row-level security protect? #{next(counter)}"
        r = await client.post(
            f"{base}/v1/embeddings", json={"model": "local-embed", "input": [text]}
        )
        r.raise_for_status()

    async def gateway_embed() -> None:
        ctx = CallContext(tenant_id=tenants["plain"].id, feature="bench")
        await api.embed(ctx, [f"What does row-level security protect? #{next(counter)}"])

    # CPU per call: unlike the wall time, it hardly moves with other processes' load.
    raw_cpu: list[float] = []
    gateway_cpu: list[float] = []
    results = {
        "httpx": await time_calls(raw, n, raw_cpu),
        "httpx_embed": await time_calls(raw_embed, n),
        "gateway_embed": await time_calls(gateway_embed, n),
        "litellm": await time_calls(bare, n),
        "router": await time_calls(routed, n),
        "gateway_no_cache": await time_calls(gateway_call(tenants["plain"]), n, gateway_cpu),
        "gateway_cache_miss": await time_calls(gateway_call(tenants["cached"]), n),
    }
    await client.aclose()
    results["httpx_cpu"], results["gateway_no_cache_cpu"] = raw_cpu, gateway_cpu
    return results


# The pipeline's steps, as (label, module, attribute): each wrapped with a timer while
# the profile runs. Names imported into a module are patched where they are looked up.
STEPS = (
    ("config", "apps.gateway.pipeline", "resolve"),
    ("validation", "apps.gateway.validation", "validate_chat"),
    ("guardrails", "apps.gateway.guard", "check_input"),
    ("guardrails", "apps.gateway.guard", "check_completion"),
    # Both reservations are one Redis round trip (admission.py); the over-budget path's
    # two steps are counted under "limits + budget" too.
    ("limits + budget", "apps.gateway.admission", "reserve"),
    ("cache", "apps.gateway.completion", "exact_lookup"),
    ("cache", "apps.gateway.completion", "cache_store"),
    ("provider I/O", "apps.gateway.relay", "complete"),
    # The ledger row and the counters' settlement go at once: timed together.
    ("ledger + settlement", "apps.gateway.pipeline", "Call._settle"),
)


@contextmanager
def patched(replacements: list[tuple[Any, str, Callable[[Any], Any]]]) -> Iterator[None]:
    """Inside the block, each ``owner.name`` is ``wrap(original)``."""
    saved = []
    for owner, name, wrap in replacements:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


@contextmanager
def step_timers(spent: dict[str, float]) -> Iterator[None]:
    """Wrap every step in STEPS with a timer that adds its wall time (ms) to ``spent``."""
    import importlib
    import inspect

    def timer(label: str) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                result = original(*args, **kwargs)
                if not inspect.isawaitable(result):
                    spent[label] += (time.perf_counter() - start) * 1000
                    return result

                async def finish() -> Any:
                    try:
                        return await result
                    finally:
                        spent[label] += (time.perf_counter() - start) * 1000

                return finish()

            return timed

        return wrap

    replacements = []
    for label, module_name, path in STEPS:
        owner: Any = importlib.import_module(module_name)
        *owners, attribute = path.split(".")  # "Class.method" for a method
        for name in owners:
            owner = getattr(owner, name)
        replacements.append((owner, attribute, timer(label)))
    with patched(replacements):
        yield


@contextmanager
def round_trips(counts: dict[str, int]) -> Iterator[None]:
    """Count the Redis round trips (a command, or a pipeline sent) and the SQL statements
    made inside the block by the calls, in ``counts["redis"]`` and ``counts["sql"]``;
    not the ledger journal's writer thread's, which works after the responses. The
    settler's pipelines (the settlements, sent after the responses, one per batch) are
    counted apart, in ``counts["redis_after"]``."""
    import threading

    from django.db.backends.utils import CursorWrapper
    from redis.asyncio.client import Pipeline, Redis
    from redis.client import Pipeline as SyncPipeline

    from apps.core.redis_scripts import ScriptChannel
    from apps.gateway import journal

    def counter(kind: str) -> Callable[[Any], Any]:
        def wrap(original: Any) -> Any:
            def counted(*args: Any, **kwargs: Any) -> Any:
                thread = threading.current_thread().name
                if thread == journal.SETTLER_THREAD:
                    counts["redis_after"] += 1
                elif thread != journal.WRITER_THREAD:
                    counts[kind] += 1
                return original(*args, **kwargs)

            return counted

        return wrap

    with patched(
        [
            (Redis, "execute_command", counter("redis")),
            (ScriptChannel, "_call", counter("redis")),  # the admission script
            (Pipeline, "execute", counter("redis")),
            (SyncPipeline, "execute", counter("redis")),
            (CursorWrapper, "_execute_with_wrappers", counter("sql")),
        ]
    ):
        yield


async def step_profile(n: int, tenant: Tenant) -> dict[str, float]:
    """Milliseconds per call spent in each step of complete() (caches off); ``other`` is
    the rest: the pipeline's own code, the hops between the event loop and the ORM's
    thread."""
    from asgiref.sync import sync_to_async

    from apps.gateway import api, journal
    from apps.gateway.types import CallContext

    spent: dict[str, float] = defaultdict(float)
    ctx = CallContext(tenant_id=tenant.id, feature="bench")
    for i in range(10):  # warm-up
        await api.complete(
            ctx, [{"role": "user", "content": f"warm {i}"}], max_tokens=64, extra_headers=FAST
        )
    total = 0.0
    with step_timers(spent):
        for i in range(n):
            messages = [{"role": "user", "content": f"{MESSAGES[0]['content']} ~{i}"}]
            start = time.perf_counter()
            await api.complete(ctx, messages, max_tokens=64, extra_headers=FAST)
            total += (time.perf_counter() - start) * 1000
    counts: dict[str, int] = defaultdict(int)
    with round_trips(counts):  # not timed: the counting costs time of its own
        for i in range(n):
            messages = [{"role": "user", "content": f"{MESSAGES[0]['content']} #{i}"}]
            await api.complete(ctx, messages, max_tokens=64, extra_headers=FAST)
        await sync_to_async(journal.wait_settled)(10)
    per_call = {label: ms / n for label, ms in spent.items()}
    per_call["other"] = total / n - sum(per_call.values())
    per_call["total"] = total / n
    per_call["redis_round_trips"] = counts["redis"] / n
    per_call["sql_statements"] = counts["sql"] / n
    per_call["redis_round_trips_after"] = counts["redis_after"] / n
    return per_call


async def stream_throughput(streams: int, tokens: int, tenant: Tenant) -> dict[str, float]:
    from django.conf import settings

    from apps.gateway import api
    from apps.gateway.router import litellm_module
    from apps.gateway.types import CallContext

    litellm = litellm_module()
    headers = {**FAST, "X-Dev-Answer-Tokens": str(tokens)}

    async def bare_stream() -> int:
        response = await litellm.acompletion(
            model="openai/local-fast",
            api_base=f"{settings.LOCAL_PROVIDER_URL}/v1",
            api_key="local",
            messages=MESSAGES,
            stream=True,
            max_tokens=tokens + 10,
            extra_headers=headers,
        )
        count = 0
        async for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
        return count

    async def gateway_stream() -> int:
        ctx = CallContext(tenant_id=tenant.id, feature="bench")
        count = 0
        async for event in api.stream_chat(
            ctx, MESSAGES, max_tokens=tokens + 10, extra_headers=headers
        ):
            if event.type == "token":
                count += 1
        return count

    out = {}
    for name, fn in (("litellm", bare_stream), ("gateway", gateway_stream)):
        await asyncio.gather(*(fn() for _ in range(2)))  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        counts = await asyncio.gather(*(fn() for _ in range(streams)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        out[name] = sum(counts) / cpu
        out[f"{name}_wall_s"] = wall
        out[f"{name}_chunks"] = sum(counts)
    return out


# ``count`` entries of random vectors under one tenant's key ("fast", "h" * 64), their
# questions ``prefix`` + a number. COPY is refused under RLS; vectors made in SQL keep the
# load quick. Parameters: tenant id, prefix, dimensions, count.
RANDOM_ENTRIES = """
    INSERT INTO gateway_semanticcacheentry (id, tenant_id, model_alias, system_prompt_hash,
        query, embedding, response, served_model, tokens_in, tokens_out, cost_usd,
        created_at, updated_at)
    SELECT gen_random_uuid(), %s, 'fast', repeat('h', 64), %s || i,
        (SELECT array_agg(random() - 0.5) FROM generate_series(1, %s) WHERE i > 0)::vector,
        'answer', 'openai/local-fast', 10, 20, 0.0001, now(), now()
    FROM generate_series(1, %s) AS i
"""


def semantic_lookup(entries: int, queries: int) -> dict[str, float]:
    """Fill the cache with `entries` rows over 20 tenants (one holding half), then time
    lookups for the big tenant and for a small one."""
    import numpy as np
    import psycopg
    from django.conf import settings

    from apps.gateway import semantic_cache

    tenants = [make_tenant(f"Semantic {i}") for i in range(20)]
    sizes = [entries // 2] + [entries // 2 // 19] * 19
    rng = np.random.default_rng(7)
    dim = settings.EMBEDDING_DIM
    url = throwaway_db.owner_url(BENCH_DB)
    with psycopg.connect(url) as conn:
        for tenant, size in zip(tenants, sizes, strict=True):
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.id)])
            conn.execute(RANDOM_ENTRIES, [tenant.id, "question ", dim, size])
            conn.commit()
        conn.execute("ANALYZE gateway_semanticcacheentry")
        conn.commit()

    results = {}
    for label, tenant in (("large", tenants[0]), ("small", tenants[1])):
        timings = []
        for q in range(queries):
            vec = rng.standard_normal(dim)
            vec /= np.linalg.norm(vec)
            start = time.perf_counter()
            semantic_cache.lookup_sync(
                tenant_id=str(tenant.id),
                alias="fast",
                system_prompt_hash="h" * 64,
                query=f"probe {q}",
                embedding=vec.tolist(),
                threshold=0.95,
            )
            timings.append((time.perf_counter() - start) * 1000)
        results[f"{label}_p50"] = statistics.median(timings)
        results[f"{label}_p95"] = pct(timings, 0.95)
    return results


READER_MODES = {
    "v7": (False, "all", "alone"),
    "v8": (True, "all", "alone"),
    "v8_first": (True, "first", "alone"),
    "v9_first": (True, "first", "after_version_7"),
}


def reader_lookup(sample: int, filler: int, rounds: int) -> dict[str, Any]:
    """Lookup + verification on queries that reach the reader (see the module docstring)."""
    import dataclasses
    import random

    import psycopg
    from asgiref.sync import async_to_sync

    from apps.gateway import semantic_cache
    from apps.gateway.cache_verifier import alignment, clear_memo, decision, reader
    from bench import cache_pairs

    dev = [p for p in cache_pairs.load_pairs(sealed=True) if p.split == "dev"]
    cached = sorted({p.cached for p in dev})
    queries = random.Random(26).sample(dev, sample)
    texts = cached + [p.new for p in queries]
    vectors: list[list[float]] = []
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        vectors += async_to_sync(semantic_cache.embed_for_evaluation)(chunk)
    tenant = make_tenant("Reader lookup")
    key = {"alias": "fast", "system_prompt_hash": "h" * 64}
    with psycopg.connect(throwaway_db.owner_url(BENCH_DB)) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.id)])
        with conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO gateway_semanticcacheentry (id, tenant_id, model_alias,
                    system_prompt_hash, query, embedding, response, served_model, tokens_in,
                    tokens_out, cost_usd, created_at, updated_at)
                VALUES (gen_random_uuid(), %s, 'fast', repeat('h', 64), %s, %s::vector,
                    'answer', 'openai/local-fast', 10, 20, 0.0001, now(), now())
                """,
                [
                    (tenant.id, text, semantic_cache._vector_literal(vec))
                    for text, vec in zip(cached, vectors, strict=False)
                ],
            )
        conn.execute(RANDOM_ENTRIES, [tenant.id, "filler ", len(vectors[0]), filler])
        conn.commit()
        conn.execute("ANALYZE gateway_semanticcacheentry")
        conn.commit()

    calls: list[int] = []
    original = reader.Reader.log_odds

    def counted(self: reader.Reader, pairs: Any, **how: Any) -> list[float]:
        calls.append(len(pairs))
        return original(self, pairs, **how)

    switch = decision.READER
    load = [os.getloadavg()[0]]
    timings: dict[str, list[float]] = {mode: [] for mode in READER_MODES}
    served: dict[str, int] = dict.fromkeys(READER_MODES, 0)
    reached: list[bool] = []
    read_counts: list[int] = []
    reader.Reader.log_odds = counted  # type: ignore[method-assign]
    try:
        reader.load(switch.weights)  # once per process, before any timing
        for n in range(rounds):
            for mode, (on, first, how) in READER_MODES.items():
                decision.READER = dataclasses.replace(
                    switch, enabled=on, candidates=first, mode=how
                )
                for i, pair in enumerate(queries):
                    clear_memo()  # a new question: its facets extracted cold (version 7)
                    alignment.clear_memo()
                    del calls[:]
                    started = time.perf_counter()
                    hit = semantic_cache.lookup_sync(
                        tenant_id=str(tenant.id),
                        alias=key["alias"],
                        system_prompt_hash=key["system_prompt_hash"],
                        query=pair.new,
                        embedding=vectors[len(cached) + i],
                        threshold=decision.DEFAULT_FLOOR,
                    )
                    timings[mode].append((time.perf_counter() - started) * 1000)
                    served[mode] += hit is not None
                    if n == 0 and mode == "v8":
                        reached.append(bool(calls))
                        read_counts.append(sum(calls))
    finally:
        reader.Reader.log_odds = original  # type: ignore[method-assign]
        decision.READER = switch
    load.append(os.getloadavg()[0])
    hits = sum(reached)
    out: dict[str, Any] = {
        "entries": len(cached) + filler,
        "filler": filler,
        "queries": sample,
        "rounds": rounds,
        "reached_share": round(hits / sample, 4),
        "candidates_read_mean": round(sum(read_counts) / max(1, hits), 2),
        "load_average": load,
    }
    for mode, t in timings.items():
        mine = [x for j, x in enumerate(t) if reached[j % sample]]
        out[mode] = {
            "reached_p50_ms": round(statistics.median(mine), 2) if mine else None,
            "reached_p95_ms": round(pct(mine, 0.95), 2) if mine else None,
            "all_p50_ms": round(statistics.median(t), 2),
            "all_p95_ms": round(pct(t, 0.95), 2),
            "served_share": round(served[mode] / (sample * rounds), 4),
        }
    return out


@contextmanager
def bench_stack() -> Iterator[None]:
    """The embedded stack (started if it is not running, and stopped after if so) with the
    throw-away database, dropped after."""
    from apps.core import devstack

    started = devstack.up()
    try:
        setup_database()
        yield
    finally:
        try:
            drop_database()
        finally:
            devstack.down(started)


def write_result(result: dict[str, Any], given: str | None, default_name: str) -> None:
    path = Path(given or ROOT / "bench" / "results" / default_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


# ADR 0019's policies for the injection check, timed by ``guardrails_ttft``.
TTFT_POLICIES: dict[str, dict[str, Any]] = {
    "off": {"actions": {"prompt_injection": "off"}},
    "flag": {},
    "block_in_line": {"actions": {"prompt_injection": "block"}},
    "block_held": {"actions": {"prompt_injection": "block"}, "injection_wait": "held"},
}


async def guardrails_ttft(
    texts: list[str], provider_ttft_ms: int, tenants: dict[str, Tenant]
) -> dict[str, Any]:
    """Each text streamed under each policy (``tenants``: one per ``TTFT_POLICIES``) in
    turn, the order rotating per text; the time to the first token, or None where the
    policy refused the text."""
    from apps.gateway import api
    from apps.gateway.types import CallContext

    headers = {
        "X-Dev-TTFT-Ms": str(provider_ttft_ms),
        "X-Dev-Tokens-Per-S": "0",
        "X-Dev-Answer-Tokens": "8",
    }

    async def first_token(tenant: Tenant, text: str) -> float | None:
        ctx = CallContext(tenant_id=tenant.id, feature="bench")
        messages = [{"role": "user", "content": text}]
        start, found = time.perf_counter(), None
        async for event in api.stream_chat(ctx, messages, max_tokens=16, extra_headers=headers):
            if event.type == "token" and found is None:
                found = (time.perf_counter() - start) * 1000
        return found

    names = list(TTFT_POLICIES)
    for name in names:  # warm-up: connections, the encoder's engine
        await first_token(tenants[name], texts[0])
    times: dict[str, list[float | None]] = {name: [] for name in names}
    for i, text in enumerate(texts):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(await first_token(tenants[name], text))
    out: dict[str, Any] = {"texts": len(texts), "provider_ttft_ms": provider_ttft_ms}
    for name in names:
        found = [t for t in times[name] if t is not None]
        added = [
            t - off
            for t, off in zip(times[name], times["off"], strict=True)
            if t is not None and off is not None
        ]
        out[f"ttft_p50_ms_{name}"] = round(statistics.median(found), 2)
        out[f"ttft_p95_ms_{name}"] = round(pct(found, 0.95), 2)
        out[f"added_p50_ms_{name}"] = round(statistics.median(added), 2)
        out[f"added_p95_ms_{name}"] = round(pct(added, 0.95), 2)
        out[f"blocked_{name}"] = len(times[name]) - len(found)
    return out


def run_guardrails_ttft(args: argparse.Namespace) -> int:
    with bench_stack():
        from asgiref.sync import async_to_sync
        from django.conf import settings

        from bench.guardrails import written_apart_rows

        settings.GATEWAY_PLAN_OVERRIDES = {
            **settings.GATEWAY_PLAN_OVERRIDES,
            "enterprise": NO_REFUSAL,
        }
        ordinary = [row["text"] for row in written_apart_rows() or [] if not row["label"]]
        if not ordinary:
            raise SystemExit("the guardrails benchmark's headline sets are not in bench/data")
        step = max(1, len(ordinary) // args.texts)
        texts = ordinary[::step][: args.texts]
        tenants = {
            name: make_tenant(f"Guard {name}", cache_enabled=False, guardrails=policy)
            for name, policy in TTFT_POLICIES.items()
        }
        result = async_to_sync(guardrails_ttft)(texts, args.provider_ttft_ms, tenants)
        from apps.gateway import journal

        journal.wait_written()  # the last calls' ledger rows, before the database goes
    print(
        f"time to first token through the gateway, {result['texts']} ordinary texts of a new "
        f"writer, the provider's own {result['provider_ttft_ms']} ms"
    )
    header = ("p50 ms", "p95 ms", "added p50", "added p95")
    print(f"{'injection policy':<16} " + " ".join(f"{h:>10}" for h in header))
    for name in TTFT_POLICIES:
        print(
            f"{name:<16} {result[f'ttft_p50_ms_{name}']:>10} {result[f'ttft_p95_ms_{name}']:>10} "
            f"{result[f'added_p50_ms_{name}']:>10} {result[f'added_p95_ms_{name}']:>10}"
            f"   blocked {result[f'blocked_{name}']}"
        )
    write_result(result, args.json, "gateway_guardrails_ttft.json")
    return 0


def run_reader_lookup(args: argparse.Namespace) -> int:
    with bench_stack():
        result = reader_lookup(args.sample, args.filler, args.rounds)
    print(
        f"{result['entries']:,} entries ({result['filler']:,} filler), {result['queries']} "
        f"queries x {result['rounds']} passes; {result['reached_share']:.1%} reach the reader "
        f"({result['candidates_read_mean']} candidates read each); load {result['load_average']}"
    )
    print(f"{'decision':<10} {'reached p50':>12} {'reached p95':>12} {'all p50':>8} {'all p95':>8}")
    for mode in READER_MODES:
        r = result[mode]
        print(
            f"{mode:<10} {r['reached_p50_ms']:>12} {r['reached_p95_ms']:>12} "
            f"{r['all_p50_ms']:>8} {r['all_p95_ms']:>8}   served {r['served_share']:.1%}"
        )
    write_result(result, args.json, "gateway_reader_lookup.json")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, 10k cache entries")
    parser.add_argument("--json", default=None, help="default bench/results/gateway.json")
    parser.add_argument("--reader-lookup", action="store_true", help="only the reader lookup")
    parser.add_argument("--sample", type=int, default=600, help="reader lookup: queries")
    parser.add_argument("--filler", type=int, default=50_000, help="reader lookup: filler")
    parser.add_argument("--rounds", type=int, default=3, help="reader lookup: passes")
    parser.add_argument(
        "--guardrails-ttft", action="store_true", help="only the time to first token per policy"
    )
    parser.add_argument("--texts", type=int, default=150, help="guardrails ttft: texts")
    parser.add_argument(
        "--provider-ttft-ms", type=int, default=150, help="guardrails ttft: the provider's own"
    )
    args = parser.parse_args()
    if args.reader_lookup:
        return run_reader_lookup(args)
    if args.guardrails_ttft:
        return run_guardrails_ttft(args)
    args.json = args.json or str(ROOT / "bench" / "results" / "gateway.json")
    calls = 60 if args.quick else 300
    entries = 10_000 if args.quick else 100_000

    with bench_stack():
        from asgiref.sync import async_to_sync
        from django.conf import settings

        settings.GATEWAY_PLAN_OVERRIDES = {
            **settings.GATEWAY_PLAN_OVERRIDES,
            "enterprise": NO_REFUSAL,
        }
        tenants = {
            "plain": make_tenant("Plain", cache_enabled=False, monthly_budget_usd=BUDGET_USD),
            "cached": make_tenant("Cached", cache_enabled=True),
            "stream": make_tenant("Stream", cache_enabled=False),
        }
        lat = async_to_sync(latency)(calls, tenants)
        steps = async_to_sync(step_profile)(calls, tenants["plain"])
        streams = async_to_sync(stream_throughput)(20 if args.quick else 50, 200, tenants["stream"])
        sem = semantic_lookup(entries, 50 if args.quick else 200)

    p50 = {k: statistics.median(v) for k, v in lat.items()}
    p95 = {k: pct(v, 0.95) for k, v in lat.items()}
    result = {
        "quick": args.quick,
        "calls": calls,
        "httpx_p50_ms": p50["httpx"],
        "gateway_over_http_p50_ms": p50["gateway_no_cache"] - p50["httpx"],
        "gateway_over_http_p95_ms": p95["gateway_no_cache"] - p95["httpx"],
        "gateway_cpu_over_http_ms": statistics.mean(lat["gateway_no_cache_cpu"])
        - statistics.mean(lat["httpx_cpu"]),
        "httpx_embed_p50_ms": p50["httpx_embed"],
        "gateway_embed_p50_ms": p50["gateway_embed"],
        "embed_over_http_p50_ms": p50["gateway_embed"] - p50["httpx_embed"],
        "embed_over_http_p95_ms": p95["gateway_embed"] - p95["httpx_embed"],
        "pipeline_steps_ms": {
            k: v
            for k, v in steps.items()
            if k not in ("redis_round_trips", "redis_round_trips_after", "sql_statements")
        },
        "ledger_journal": settings.GATEWAY_LEDGER_JOURNAL,
        "redis_round_trips_per_call": steps["redis_round_trips"],
        "redis_round_trips_after_response_per_call": steps["redis_round_trips_after"],
        "sql_statements_per_call": steps["sql_statements"],
        "litellm_p50_ms": p50["litellm"],
        "gateway_p50_ms": p50["gateway_no_cache"],
        "gateway_cache_miss_p50_ms": p50["gateway_cache_miss"],
        "litellm_overhead_p50_ms": p50["litellm"] - p50["httpx"],
        "pipeline_overhead_p50_ms": p50["gateway_no_cache"] - p50["litellm"],
        "pipeline_overhead_p95_ms": p95["gateway_no_cache"] - p95["litellm"],
        "router_p50_ms": p50["router"],
        "router_overhead_p50_ms": p50["router"] - p50["litellm"],
        "pipeline_over_router_p50_ms": p50["gateway_no_cache"] - p50["router"],
        "pipeline_over_router_p95_ms": p95["gateway_no_cache"] - p95["router"],
        "pipeline_cache_miss_overhead_p50_ms": p50["gateway_cache_miss"] - p50["litellm"],
        "pipeline_cache_miss_overhead_p95_ms": p95["gateway_cache_miss"] - p95["litellm"],
        "stream_chunks_per_core_s_gateway": streams["gateway"],
        "stream_chunks_per_core_s_litellm": streams["litellm"],
        "semantic_entries": entries,
        "semantic_lookup_p50_ms": sem["large_p50"],
        "semantic_lookup_p95_ms": max(sem["large_p95"], sem["small_p95"]),
        "semantic_lookup_small_tenant_p95_ms": sem["small_p95"],
        "semantic_lookup_large_tenant_p95_ms": sem["large_p95"],
    }
    rows = [
        ("raw httpx call", f"{p50['httpx']:.2f}", f"{p95['httpx']:.2f}"),
        ("bare litellm.acompletion", f"{p50['litellm']:.2f}", f"{p95['litellm']:.2f}"),
        ("litellm.Router.acompletion", f"{p50['router']:.2f}", f"{p95['router']:.2f}"),
        (
            "gateway complete(), caches off",
            f"{p50['gateway_no_cache']:.2f}",
            f"{p95['gateway_no_cache']:.2f}",
        ),
        (
            "gateway complete(), cache miss",
            f"{p50['gateway_cache_miss']:.2f}",
            f"{p95['gateway_cache_miss']:.2f}",
        ),
        (
            "raw httpx embedding (one text)",
            f"{p50['httpx_embed']:.2f}",
            f"{p95['httpx_embed']:.2f}",
        ),
        (
            "gateway embed(), one text",
            f"{p50['gateway_embed']:.2f}",
            f"{p95['gateway_embed']:.2f}",
        ),
        (
            "= gateway over raw HTTP (caches off)",
            f"{result['gateway_over_http_p50_ms']:.2f}",
            f"{result['gateway_over_http_p95_ms']:.2f}",
        ),
        (
            "= embed() over raw HTTP",
            f"{result['embed_over_http_p50_ms']:.2f}",
            f"{result['embed_over_http_p95_ms']:.2f}",
        ),
        ("= litellm over httpx", f"{result['litellm_overhead_p50_ms']:.2f}", ""),
        ("= Router over bare litellm", f"{result['router_overhead_p50_ms']:.2f}", ""),
        (
            "= our pipeline over the Router",
            f"{result['pipeline_over_router_p50_ms']:.2f}",
            f"{result['pipeline_over_router_p95_ms']:.2f}",
        ),
        (
            "= pipeline over litellm",
            f"{result['pipeline_overhead_p50_ms']:.2f}",
            f"{result['pipeline_overhead_p95_ms']:.2f}",
        ),
        (
            "= pipeline (cache miss) over litellm",
            f"{result['pipeline_cache_miss_overhead_p50_ms']:.2f}",
            f"{result['pipeline_cache_miss_overhead_p95_ms']:.2f}",
        ),
        (
            f"semantic lookup, {entries:,} entries, large tenant",
            f"{sem['large_p50']:.2f}",
            f"{sem['large_p95']:.2f}",
        ),
        ("semantic lookup, small tenant", f"{sem['small_p50']:.2f}", f"{sem['small_p95']:.2f}"),
    ]
    print(f"\n{'measure':<48} {'p50 ms':>9} {'p95 ms':>9}")
    for name, a, b in rows:
        print(f"{name:<48} {a:>9} {b:>9}")
    print(f"\n{'step of complete(), caches off':<48} {'ms/call':>9} {'share':>9}")
    for label, ms in result["pipeline_steps_ms"].items():
        if label != "total":
            print(f"{label:<48} {ms:>9.3f} {ms / steps['total']:>9.1%}")
    print(f"{'total':<48} {steps['total']:>9.3f}")
    print(
        f"CPU per call over raw httpx (this process, all threads): "
        f"{result['gateway_cpu_over_http_ms']:.3f} ms"
    )
    print(
        f"round trips per call: Redis {steps['redis_round_trips']:.1f} "
        f"(+{steps['redis_round_trips_after']:.2f} after the response, batched), "
        f"SQL statements {steps['sql_statements']:.1f} "
        f"(ledger journal {'on' if result['ledger_journal'] else 'off'})"
    )
    print(
        f"\nstreaming chunks per CPU-second in this process: gateway {streams['gateway']:,.0f}, "
        f"bare litellm {streams['litellm']:,.0f}"
    )
    write_result(result, args.json, "gateway.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
