"""The tenant API side by side with the LiteLLM proxy, in front of the same provider.

    .venv/bin/python bench/api_vs_proxy.py [--quick] [--json FILE] [--venv DIR]

Starts the embedded stack (and stops what it started), an unpaced local provider, the app
on one uvicorn worker over a throw-away database (a tenant with both caches on, so every
varied prompt is an exact and a semantic miss), and the LiteLLM proxy from the project's
litellm version, installed into a throw-away virtualenv from
bench/api_vs_proxy_requirements.txt (`--venv DIR` reuses one). Then, targets interleaved:
  1. sequential non-streaming calls (`max_tokens` 16): p50 / p95 per target;
  2. streaming calls (64 tokens): time to the first byte of the body;
  3. 20 concurrent clients, non-streaming: requests per second.
If the proxy cannot be installed or started, it says so and measures the rest.
Prints a table and writes JSON (default bench/results/api_vs_proxy.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gateway as gateway_bench  # noqa: E402  (database set-up helpers)
from bench.chat_streams import free_port, start, start_web, wait_healthy  # noqa: E402

REQUIREMENTS = ROOT / "bench" / "api_vs_proxy_requirements.txt"
LOGS = ROOT / "bench" / "results" / "logs"
CONCURRENCY = 20


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # the chat completions endpoint
    model: str
    headers: dict[str, str]


# --- the three targets ---------------------------------------------------------------------


def app_key() -> str:
    """A tenant with both caches on and an API key with the chat scope."""
    from apps.api.services import api_key_create
    from apps.core.db import tenant_context
    from apps.tenants.models import Membership

    tenant = gateway_bench.make_tenant("Side by side", cache_enabled=True)
    with tenant_context(tenant.id):
        owner = Membership.objects.select_related("user").get(tenant=tenant)
        _, raw_key = api_key_create(tenant=tenant, actor=owner, name="bench", scopes=["chat"])
    return raw_key


def install_proxy(venv: Path) -> Path:
    """The proxy's ``litellm`` command in ``venv``, installed there if missing."""
    command = venv / "bin" / "litellm"
    if command.exists():
        return command
    # Our own interpreter and the venv's pip, with our requirements file: no outside input.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)],
        check=True,
        timeout=1200,
    )
    return command


def start_proxy(
    command: Path, provider: str, work: Path, master_key: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = work / "proxy.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "model_list": [
                    {
                        "model_name": "fast",
                        "litellm_params": {
                            "model": "openai/local-fast",
                            "api_base": f"{provider}/v1",
                            "api_key": "local",
                        },
                    }
                ],
                "litellm_settings": {"drop_params": True},
            }
        )
    )
    # No database (the app's is in this environment): the proxy as a team runs it bare.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        LITELLM_MASTER_KEY=master_key,  # it refuses to start without one
    )
    proc = start(
        [str(command), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env,
        LOGS / "proxy.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(f"{base}/health/liveliness", proc, timeout=180)
    return proc, base


# --- measuring -----------------------------------------------------------------------------


def body(target: Target, n: int, *, stream: bool) -> dict[str, Any]:
    # A new question each time: no cache can answer it.
    question = f"Question {n}: how does row-level security keep tenants apart?"
    return {
        "model": target.model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 64 if stream else 16,
        "stream": stream,
    }


async def one_call(client: httpx.AsyncClient, target: Target, n: int) -> float:
    start_at = time.perf_counter()
    response = await client.post(
        target.url, json=body(target, n, stream=False), headers=target.headers
    )
    response.raise_for_status()
    return (time.perf_counter() - start_at) * 1000


async def first_byte(client: httpx.AsyncClient, target: Target, n: int) -> float:
    start_at = time.perf_counter()
    request = client.build_request(
        "POST", target.url, json=body(target, n, stream=True), headers=target.headers
    )
    response = await client.send(request, stream=True)
    try:
        response.raise_for_status()
        ttfb = None
        async for chunk in response.aiter_raw():
            if ttfb is None and chunk:
                ttfb = (time.perf_counter() - start_at) * 1000
    finally:
        await response.aclose()
    return ttfb if ttfb is not None else float("nan")


async def interleaved(
    targets: list[Target],
    calls: int,
    measure: Callable[[httpx.AsyncClient, Target, int], Awaitable[float]],
    counter: list[int],
) -> dict[str, list[float]]:
    """``calls`` measurements per target, targets taking turns (so a noisy moment on the
    machine hits all of them alike)."""
    out: dict[str, list[float]] = {t.name: [] for t in targets}
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(calls + 5):
            for target in targets:
                counter[0] += 1
                value = await measure(client, target, counter[0])
                if i >= 5:  # the first rounds warm connections and caches up
                    out[target.name].append(value)
    return out


async def throughput(
    targets: list[Target], rounds: int, per_client: int, counter: list[int]
) -> dict[str, float]:
    """Requests per second with CONCURRENCY clients, median over rounds taken in turn."""
    rates: dict[str, list[float]] = {t.name: [] for t in targets}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker(target: Target) -> None:
            for _ in range(per_client):
                counter[0] += 1
                await one_call(client, target, counter[0])

        for _ in range(rounds):
            for target in targets:
                start_at = time.perf_counter()
                await asyncio.gather(*(worker(target) for _ in range(CONCURRENCY)))
                rates[target.name].append(
                    CONCURRENCY * per_client / (time.perf_counter() - start_at)
                )
    return {name: statistics.median(values) for name, values in rates.items()}


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "api_vs_proxy.json"))
    parser.add_argument("--venv", help="the proxy's virtualenv (made there if missing; kept)")
    args = parser.parse_args()
    calls, rounds, per_client = (40, 2, 5) if args.quick else (200, 5, 10)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from apps.core import devstack

    work = Path(tempfile.mkdtemp(prefix="api-vs-proxy-"))
    started = devstack.up()
    procs: list[subprocess.Popen[bytes]] = []
    proxy_problem = ""
    try:
        gateway_bench.setup_database()
        key = app_key()
        from django.conf import settings as django_settings

        provider_port = free_port()
        provider = f"http://127.0.0.1:{provider_port}"
        procs.append(
            start(
                [sys.executable, "-m", "apps.gateway.local_provider", "--port", str(provider_port)],
                {**os.environ, "LOCAL_PROVIDER_TTFT_MS": "0", "LOCAL_PROVIDER_TOKENS_PER_S": "0"},
                LOGS / "proxy-bench-provider.log",
            )
        )
        wait_healthy(f"{provider}/health", procs[-1])
        web_port = free_port()
        procs.append(
            start_web(
                web_port, provider, django_settings.SECRET_KEY, LOGS / "proxy-bench-uvicorn.log"
            )
        )
        app = f"http://127.0.0.1:{web_port}"
        wait_healthy(f"{app}/healthz", procs[-1])
        targets = [
            Target("direct", f"{provider}/v1/chat/completions", "local-fast", {}),
            Target(
                "app", f"{app}/api/v1/chat/completions", "fast", {"Authorization": f"Bearer {key}"}
            ),
        ]
        try:
            venv = Path(args.venv) if args.venv else work / "venv"
            master_key = f"sk-bench-{secrets.token_hex(16)}"
            proxy_proc, proxy = start_proxy(install_proxy(venv), provider, work, master_key)
            procs.append(proxy_proc)
            auth = {"Authorization": f"Bearer {master_key}"}
            targets.insert(1, Target("proxy", f"{proxy}/v1/chat/completions", "fast", auth))
        except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
            proxy_problem = f"the LiteLLM proxy could not be installed or started: {exc}"
            print(f"{proxy_problem}; measuring the rest (log: {LOGS / 'proxy.log'})")

        counter = [0]
        sequential = asyncio.run(interleaved(targets, calls, one_call, counter))
        ttfb = asyncio.run(interleaved(targets, max(calls // 2, 20), first_byte, counter))
        rps = asyncio.run(throughput(targets, rounds, per_client, counter))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        try:
            gateway_bench.drop_database()
        finally:
            devstack.down(started)
            if not args.venv:
                shutil.rmtree(work, ignore_errors=True)

    def p50(name: str, values: dict[str, list[float]]) -> float | None:
        return statistics.median(values[name]) if name in values else None

    direct, proxy_p50, app_p50 = (p50(n, sequential) for n in ("direct", "proxy", "app"))
    if direct is None or app_p50 is None:
        raise RuntimeError("no measurement of the provider or the app")
    result: dict[str, Any] = {
        "quick": args.quick,
        "calls": calls,
        "proxy_problem": proxy_problem or None,
        "direct_p50_ms": direct,
        "proxy_p50_ms": proxy_p50,
        "app_p50_ms": app_p50,
        "direct_p95_ms": gateway_bench.pct(sequential["direct"], 0.95),
        "proxy_p95_ms": gateway_bench.pct(sequential["proxy"], 0.95) if proxy_p50 else None,
        "app_p95_ms": gateway_bench.pct(sequential["app"], 0.95),
        "app_over_direct_p50_ms": app_p50 - direct,
        "proxy_over_direct_p50_ms": None if proxy_p50 is None else proxy_p50 - direct,
        "direct_rps_c20": rps["direct"],
        "app_rps_c20": rps["app"],
        "proxy_rps_c20": rps.get("proxy"),
        "direct_ttfb_p50_ms": p50("direct", ttfb),
        "app_ttfb_p50_ms": p50("app", ttfb),
        "proxy_ttfb_p50_ms": p50("proxy", ttfb),
    }
    header = ("p50 ms", "p95 ms", "over direct", "ttfb p50", "rps c20")
    print(f"\n{'target':<10} " + " ".join(f"{h:>12}" for h in header))
    for name in [t.name for t in targets]:
        row = [
            result[f"{name}_p50_ms"],
            result[f"{name}_p95_ms"],
            result[f"{name}_p50_ms"] - direct,
            result[f"{name}_ttfb_p50_ms"],
            result[f"{name}_rps_c20"],
        ]
        print(f"{name:<10} " + " ".join(f"{value:>12.2f}" for value in row))
    if proxy_problem:
        print(f"\n{proxy_problem}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
