"""Concurrent chat streams through the whole stack on ONE ASGI worker.

    .venv/bin/python bench/chat_streams.py [--streams N] [--seconds S] [--quick] [--json FILE]
        [--anatomy] [--profile FILE]

Starts what it needs (the embedded stack, a local provider paced like a real model at
30 tokens/s with 150 ms to first token and 300-token answers, and uvicorn with one
worker on a throw-away database), then keeps N browser-like sessions busy: they start
spread over one answer's length, then each posts a message, reads the answer over SSE
and posts the next; the S seconds after that ramp are measured. Measures, per token,
how late it arrives against the provider's own pace, the time to first token added by
the stack, errors, and
the server's CPU and memory. Prints a table and writes JSON (bench/results/chat_streams.json).
``--anatomy`` also times each stage of the first token's path (bench/chat_anatomy.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.core import heap  # noqa: E402
from bench import gateway as gateway_bench  # noqa: E402  (database set-up helpers)

PROVIDER_TTFT_MS = 150
TOKENS_PER_S = 30
ANSWER_TOKENS = 300  # a typical chat answer: 10 s at 30 tokens/s

# --anatomy: the first token's stages; ``c_`` stages are the load generator's, the rest
# the worker's (bench/chat_anatomy.py). A generation the post starts runs beside the 201's
# way back and the event stream's request, so the segments are spans, not a chain.
STAGES = {
    "c_post": "post sent (client)",
    "s_post_in": "post received",
    "s_thread": "post on a worker thread",
    "s_auth": "session and user read",
    "s_member": "membership found, tenant entered",
    "s_conv": "conversation, newest message, history read",
    "s_stored": "question and answer stored",
    "s_history": "ticket signed, generation claimed",
    "s_thread_done": "committed, thread done",
    "s_back": "post back on the event loop",
    "s_claimed": "generation started",
    "s_post_out": "post answered",
    "c_post_back": "201 read (client)",
    "c_get": "event stream asked (client)",
    "s_get_in": "event stream received",
    "s_gen": "generation running",
    "s_retrieve": "history read",
    "s_begin": "retrieval done",
    "s_admitted": "gateway admitted",
    "s_sent": "provider request sent",
    "s_byte": "provider first chunk read",
    "s_token": "first token to readers",
    "s_write": "first token written",
    "c_first": "first token read (client)",
}
SEGMENTS = (
    ("c_post", "s_post_in"),
    ("s_post_in", "s_post_out"),
    ("s_post_in", "s_thread"),
    ("s_thread", "s_auth"),
    ("s_auth", "s_member"),
    ("s_member", "s_conv"),
    ("s_conv", "s_stored"),
    ("s_stored", "s_history"),
    ("s_history", "s_thread_done"),
    ("s_thread_done", "s_back"),
    ("s_back", "s_claimed"),
    ("s_claimed", "s_gen"),
    ("s_post_out", "c_post_back"),
    ("c_get", "s_get_in"),
    ("s_post_in", "s_gen"),
    ("s_gen", "s_retrieve"),
    ("s_retrieve", "s_begin"),
    ("s_begin", "s_admitted"),
    ("s_admitted", "s_sent"),
    ("s_sent", "s_byte"),
    ("s_byte", "s_token"),
    ("s_get_in", "s_write"),
    ("s_token", "s_write"),
    ("s_write", "c_first"),
    ("c_post", "c_first"),
)


STALL_MS = 20  # bench/chat_anatomy.py STALL_S


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(  # noqa: S603 - our own commands
        command, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def start_web(
    port: int, provider_url: str, secret_key: str, log: Path, anatomy: Path | None = None
) -> subprocess.Popen[bytes]:
    """The app under uvicorn with ONE worker, production settings (``DJANGO_DEBUG`` off),
    against ``provider_url``; ``secret_key`` is the caller's, so its session cookies sign.
    With ``anatomy`` the worker notes each message's first-token stages there."""
    app = "bench.chat_anatomy:application" if anatomy else "config.asgi:application"
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secret_key,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_COOKIES": "false",
        "LOCAL_PROVIDER_URL": provider_url,
        "LOG_LEVEL": "WARNING",
    } | ({"CHAT_ANATOMY_FILE": str(anatomy)} if anatomy else {})
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    return start(command, env, log)


def sessions(count: int) -> tuple[str, list[str], str]:
    """A tenant, one user and ``count`` conversations; returns (session cookie, urls, slug)."""
    from django.conf import settings
    from django.test import Client

    from apps.chat.services import conversation_create
    from apps.core.db import tenant_context

    tenant = gateway_bench.make_tenant("Chat Bench", cache_enabled=False, max_tokens=1000)
    from apps.accounts.models import User

    user = User.objects.get(email="chat-bench@bench.example")
    urls = []
    with tenant_context(tenant.id):
        for _ in range(count):
            conversation = conversation_create(tenant=tenant, user=user)
            urls.append(f"/t/{tenant.slug}/chat/{conversation.id}/messages/")
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, urls, tenant.slug


async def one_session(
    http: aiohttp.ClientSession,
    send_url: str,
    until: float,
    delay: float,
    stats: dict[str, list[float]],
    measure_from: float,
    notes: list[tuple[str, str, float]],
) -> None:
    """``notes``: (message id, stage, monotonic time) of this side's first-token stages
    (bench/chat_anatomy.py), for the measured messages."""
    await asyncio.sleep(delay)
    n = 0
    while time.monotonic() < until:
        n += 1
        started = time.monotonic()
        try:
            question = {"content": f"Question {n} about invoices"}
            async with http.post(send_url, data=question) as sent:
                body = await sent.json() if sent.status == 201 else None
            if body is None:
                stats["errors"].append(1)
                await asyncio.sleep(0.5)
                continue
            mine = [
                (body["message_id"], "c_post", started),
                (body["message_id"], "c_post_back", time.monotonic()),
            ]
            first: float | None = None
            index = 0
            mine.append((body["message_id"], "c_get", time.monotonic()))
            async with http.get(body["events_url"]) as response:
                kind = ""
                async for raw in response.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "token":
                        now = time.monotonic()
                        measured = now >= measure_from
                        if first is None:
                            first = now
                            if measured:
                                stats["ttft_ms"].append((now - started) * 1000)
                                notes += [*mine, (body["message_id"], "c_first", now)]
                        elif measured:
                            expected = first + index / TOKENS_PER_S
                            stats["lag_ms"].append(max(0.0, (now - expected) * 1000))
                        index += 1
                        if measured:
                            stats["tokens"].append(1)
                    elif line.startswith("data: ") and kind == "done":
                        if json.loads(line[6:]).get("status") != "complete":
                            stats["errors"].append(1)
                        break
        except (aiohttp.ClientError, TimeoutError):
            stats["errors"].append(1)


async def drive(
    base: str,
    cookie: str,
    urls: list[str],
    seconds: float,
    *,
    stagger: float = 0.0,
    measure_from: float = 0.0,
    notes: list[tuple[str, str, float]] | None = None,
) -> dict[str, list[float]]:
    """Each session starts at a random moment within ``stagger`` seconds (users do not
    all press Enter at once), then sends its next message when an answer ends, until
    ``seconds`` after the last start. Tokens are measured from ``measure_from`` on;
    errors all the time."""
    stats: dict[str, list[float]] = {"ttft_ms": [], "lag_ms": [], "tokens": [], "errors": []}
    notes = [] if notes is None else notes
    csrf = "a" * 32
    rng = random.Random(7)
    async with aiohttp.ClientSession(
        base_url=base,
        cookies={"sessionid": cookie, "csrftoken": csrf},
        headers={"X-CSRFToken": csrf},
        timeout=aiohttp.ClientTimeout(total=120),
        connector=aiohttp.TCPConnector(limit=0),
    ) as http:
        until = time.monotonic() + stagger + seconds
        await asyncio.gather(
            *(
                one_session(http, url, until, rng.uniform(0, stagger), stats, measure_from, notes)
                for url in urls
            )
        )
    return stats


async def measured_run(
    base: str,
    cookie: str,
    urls: list[str],
    ramp: float,
    seconds: float,
    server: psutil.Process,
    profile_to: str | None,
    notes: list[tuple[str, str, float]],
) -> tuple[dict[str, list[float]], float, float, subprocess.Popen[bytes] | None]:
    """Drive the sessions; measure the server's CPU from the end of the ramp on."""
    measure_from = time.monotonic() + ramp
    profiler: subprocess.Popen[bytes] | None = None

    async def cpu_at_start() -> tuple[float, float]:
        nonlocal profiler
        await asyncio.sleep(ramp)
        if profile_to:
            profiler = profile(server.pid, profile_to, seconds)
        return time.monotonic(), sum(server.cpu_times()[:2])

    start = asyncio.create_task(cpu_at_start())
    stats = await drive(
        base, cookie, urls, ramp + seconds, stagger=ramp, measure_from=measure_from, notes=notes
    )
    started_at, cpu_before = await start
    wall = time.monotonic() - started_at
    return stats, wall, sum(server.cpu_times()[:2]) - cpu_before, profiler


def profile(pid: int, output: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy samples the worker from outside (no code changes, little overhead); only
    threads holding the GIL, so time spent waiting is not counted."""
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid)]
    command += ["--duration", str(int(seconds))]
    command += ["--rate", "250", "--format", "raw", "--output", output, "--nonblocking", "--gil"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603


def summarise_profile(path: Path, top: int = 25) -> str:
    """Where the samples were: own time per function, and time inside each of ours."""
    own: dict[str, int] = {}
    inside: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples
        for frame in set(frames):
            inside[frame] = inside.get(frame, 0) + samples
    lines = [f"{'own %':>6}  function (of {total} samples)"]
    for frame, samples in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{samples * 100 / total:6.1f}  {frame}")
    lines.append(f"\n{'in %':>6}  function")
    for frame, samples in sorted(inside.items(), key=lambda kv: -kv[1])[: top * 2]:
        lines.append(f"{samples * 100 / total:6.1f}  {frame}")
    return "\n".join(lines)


def anatomy(notes: list[tuple[str, str, float]], server_notes: Path) -> dict[str, list[float]]:
    """Per segment of the first token's path (SEGMENTS), p50 and p95 in ms and the
    number of messages, over the measured ones."""
    times: dict[str, dict[str, list[float]]] = {}
    for message_id, stage, moment in notes:
        times.setdefault(message_id, {}).setdefault(stage, []).append(moment)
    pauses: list[tuple[str, float, float]] = []  # (kind, start, seconds)
    for line in server_notes.read_text().splitlines():
        fields = line.split()
        if len(fields) == 4:  # gc <generation> or stall -, <start> <seconds>
            kind = "stall" if fields[0] == "stall" else f"gc{fields[1]}"
            pauses.append((kind, float(fields[2]), float(fields[3])))
            continue
        message_id, stage, noted = fields
        if message_id in times:  # a measured message
            times[message_id].setdefault(stage, []).append(float(noted))
    segments: dict[str, list[float]] = {}
    for message in times.values():
        # One time per stage: the first, but the provider request is the one before the
        # first chunk (a retrieval's embedding, a title's call are requests too).
        at = {stage: min(values) for stage, values in message.items()}
        if "s_sent" in message and "s_byte" in at:
            at["s_sent"] = max((t for t in message["s_sent"] if t <= at["s_byte"]), default=0)
        for before, after in SEGMENTS:
            if before in at and after in at:
                span = (at[after] - at[before]) * 1000
                segments.setdefault(f"{before}>{after}", []).append(span)
    result = {
        name: [statistics.median(values), gateway_bench.pct(values, 0.95), len(values)]
        for name, values in segments.items()
    }
    return result | pause_spans(times, pauses)


def pause_spans(
    times: dict[str, dict[str, list[float]]], pauses: list[tuple[str, float, float]]
) -> dict[str, list[float]]:
    """The worker's pauses over the measured messages' window (collections per generation,
    event-loop stalls): p50 and max in ms and their number; then the TTFT (post sent ->
    first token read) p50 / p95 of the messages whose path overlapped a full collection
    or a stall, and of the others."""
    paths = [
        (min(at["c_post"]), min(at["c_first"]))
        for at in times.values()
        if "c_post" in at and "c_first" in at
    ]
    if not paths:
        return {}
    first, last = min(p[0] for p in paths), max(p[1] for p in paths)
    result: dict[str, list[float]] = {}
    for kind in ("gc0", "gc1", "gc2", "stall"):
        spans = [took * 1000 for k, at, took in pauses if k == kind and first <= at <= last]
        if spans:
            result[f"pause:{kind}"] = [statistics.median(spans), max(spans), len(spans)]
    stops = [(at, at + took) for kind, at, took in pauses if kind in ("gc2", "stall")]
    hit: list[float] = []
    clear: list[float] = []
    for sent, read in paths:
        overlapped = any(start < read and end > sent for start, end in stops)
        (hit if overlapped else clear).append((read - sent) * 1000)
    for name, values in (("ttft:paused", hit), ("ttft:clear", clear)):
        if values:
            result[name] = [statistics.median(values), gateway_bench.pct(values, 0.95), len(values)]
    return result


def print_anatomy(segments: dict[str, list[float]]) -> None:
    print(f"\n{'first-token segment':<64} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}")
    for before, after in SEGMENTS:
        if f"{before}>{after}" in segments:
            p50, p95, count = segments[f"{before}>{after}"]
            text = f"{STAGES[before]} -> {STAGES[after]}"
            print(f"{text:<64} {p50:>8.1f} {p95:>8.1f} {int(count):>5}")
    labels = {
        "pause:gc0": "collections of generation 0 (p50 / max)",
        "pause:gc1": "collections of generation 1 (p50 / max)",
        "pause:gc2": "full collections (p50 / max)",
        "pause:stall": f"event-loop stalls over {STALL_MS} ms (p50 / max)",
        "ttft:paused": "post sent -> first token, over a full collection or stall",
        "ttft:clear": "post sent -> first token, the others",
    }
    for name, label in labels.items():
        if name in segments:
            first, second, count = segments[name]
            print(f"{label:<64} {first:>8.1f} {second:>8.1f} {int(count):>5}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--quick", action="store_true", help="20 streams for 12 seconds")
    parser.add_argument("--answer-tokens", type=int, default=ANSWER_TOKENS)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "chat_streams.json"))
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="sample the web worker with py-spy during the run; write collapsed stacks to FILE",
    )
    parser.add_argument(
        "--anatomy",
        action="store_true",
        help="time each stage of the first token's path (bench/chat_anatomy.py)",
    )
    args = parser.parse_args()
    streams, seconds = (20, 12.0) if args.quick else (args.streams, args.seconds)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logs = ROOT / "bench" / "results" / "logs"

    from apps.core import devstack

    started = devstack.up()
    procs: list[subprocess.Popen[bytes]] = []
    notes: list[tuple[str, str, float]] = []
    server_notes = logs / "chat-anatomy.txt" if args.anatomy else None
    if server_notes is not None:
        server_notes.parent.mkdir(parents=True, exist_ok=True)
        server_notes.write_text("")
    try:
        gateway_bench.setup_database()
        cookie, urls, _ = sessions(streams)
        from django.conf import settings as django_settings

        provider_port, web_port = free_port(), free_port()
        provider = start(
            [sys.executable, "-m", "apps.gateway.local_provider", "--port", str(provider_port)],
            {
                **os.environ,
                "LOCAL_PROVIDER_TTFT_MS": str(PROVIDER_TTFT_MS),
                "LOCAL_PROVIDER_TOKENS_PER_S": str(TOKENS_PER_S),
                "LOCAL_PROVIDER_ANSWER_TOKENS": str(args.answer_tokens),
            },
            logs / "chat-provider.log",
        )
        procs.append(provider)
        wait_healthy(f"http://127.0.0.1:{provider_port}/health", provider)
        # The same key as this process, which signed the session cookie.
        web = start_web(
            web_port,
            f"http://127.0.0.1:{provider_port}",
            django_settings.SECRET_KEY,
            logs / "chat-uvicorn.log",
            server_notes,
        )
        procs.append(web)
        base = f"http://127.0.0.1:{web_port}"
        wait_healthy(f"{base}/healthz", web)
        # Warm-up: one answer per session (imports, connections), not measured.
        asyncio.run(drive(base, cookie, urls, 0.1))
        # Sessions start spread over one answer's length, so the measured window sees a
        # steady state: answers starting and ending all the time, not in lockstep.
        ramp = args.answer_tokens / TOKENS_PER_S
        server = psutil.Process(web.pid)
        # The load generator must not stall either: its own full garbage collections
        # (Django is loaded here) would show up as token lag (apps/core/heap.py).
        heap.freeze_startup_heap()
        gc.disable()
        try:
            stats, wall, cpu, profiler = asyncio.run(
                measured_run(base, cookie, urls, ramp, seconds, server, args.profile, notes)
            )
        finally:
            gc.enable()
        rss_mb = server.memory_info().rss / 2**20
        if profiler is not None:
            profiler.wait(30)
            print(summarise_profile(Path(args.profile)))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        try:
            gateway_bench.drop_database()
        finally:
            devstack.down(started)

    lag = stats["lag_ms"] or [0.0]
    ttft = stats["ttft_ms"] or [0.0]
    result: dict[str, Any] = {
        "streams": streams,
        "seconds": round(wall, 1),
        "tokens": len(stats["tokens"]),
        "errors": len(stats["errors"]),
        "ttft_added_p50_ms": statistics.median(ttft) - PROVIDER_TTFT_MS,
        "ttft_added_p95_ms": gateway_bench.pct(ttft, 0.95) - PROVIDER_TTFT_MS,
        "token_lag_p95_ms": gateway_bench.pct(lag, 0.95),
        "token_lag_p50_ms": statistics.median(lag),
        "token_lag_p99_ms": gateway_bench.pct(lag, 0.99),
        "cpu_ms_per_stream_s": cpu * 1000 / (streams * wall),
        # The same CPU per token read: on a starved worker tokens bunch into fewer writes
        # and fewer stream-seconds are served, so the figure above falls as it starves.
        "cpu_us_per_token": cpu * 1e6 / max(1, len(stats["tokens"])),
        "server_cpu_share": cpu / wall,
        "rss_mb": rss_mb,
    }
    if server_notes is not None:
        result["anatomy"] = anatomy(notes, server_notes)
        print_anatomy(result["anatomy"])
    print(f"\n{'measure':<34} {'value':>12}")
    for key, value in result.items():
        if key == "anatomy":
            continue
        print(f"{key:<34} {value:>12.1f}" if isinstance(value, float) else f"{key:<34} {value:>12}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
