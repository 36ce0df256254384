"""Real processes the integration tests start: the ASGI server and a Celery worker,
both pointed at the test database and the embedded Valkey."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import httpx
from django.conf import settings


def runtime_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Every server the tests start writes the emails it sends here, one file per message
# (tests/e2e reads sign-up confirmations from it).
MAIL_DIR = Path(settings.BASE_DIR) / "test-artifacts" / "mail"


def process_env(**extra: str) -> dict[str, str]:
    mail = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(MAIL_DIR),
    }
    # The ledger written before a call returns, as in the tests' own process (tests/conftest.py).
    ledger = {"GATEWAY_LEDGER_JOURNAL": "0"}
    # os.environ carries the test process's settings module (pytest-django sets it: not
    # ``settings.SETTINGS_MODULE``, None under override_settings): its password hasher made
    # the test users' passwords, its Redis database holds the queues the tests see.
    return {**os.environ, "DATABASE_URL": runtime_database_url(), **mail, **ledger, **extra}


@contextmanager
def running(
    command: list[str], *, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60
) -> None:
    """Poll ``url`` until it answers 200; fail with the process log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def asgi_server(log_dir: Path, *, name: str = "uvicorn", **extra_env: str) -> Iterator[str]:
    """uvicorn serving config.asgi on a free port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # Tasks run inline: a server under test must not leave messages in the shared queue.
    env = process_env(SITE_URL=base, **{"CELERY_TASK_ALWAYS_EAGER": "true", **extra_env})
    log = log_dir / f"{name}.log"
    with running(command, env=env, log=log) as proc:
        wait_until_healthy(proc, f"{base}/healthz", log)
        yield base


@contextmanager
def paced_stack(
    log_dir: Path, *, tokens_per_s: int = 12, ttft_ms: int = 0, **extra_env: str
) -> Iterator[str]:
    """uvicorn backed by its own local provider that streams at ``tokens_per_s``, so an
    answer takes seconds and can be stopped, resumed or abandoned mid-way; ``ttft_ms``
    delays each answer's first token (a hosted model's wait, which the semantic cache
    must beat to serve: apps/gateway/semantic_race.py)."""
    with paced_cluster(
        log_dir,
        instances=1,
        tokens_per_s=tokens_per_s,
        ttft_ms=ttft_ms,
        answer_tokens=None,
        **extra_env,
    ) as bases:
        yield bases[0]


@contextmanager
def paced_cluster(
    log_dir: Path,
    *,
    instances: int,
    tokens_per_s: int = 12,
    ttft_ms: int = 0,
    answer_tokens: int | None = None,
    **extra_env: str,
) -> Iterator[list[str]]:
    """Like ``paced_stack`` with several web instances sharing the database, Redis and
    the provider, as behind a load balancer; ``answer_tokens`` fixes answers' length."""
    port = free_port()
    provider = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LOCAL_PROVIDER_TTFT_MS": str(ttft_ms),
        "LOCAL_PROVIDER_TOKENS_PER_S": str(tokens_per_s),
        "LOCAL_PROVIDER_ANSWER_TOKENS": str(answer_tokens or ""),
    }
    log = log_dir / "provider.log"
    command = [sys.executable, "-m", "apps.gateway.local_provider", "--port", str(port)]
    with running(command, env=env, log=log) as proc, ExitStack() as servers:
        wait_until_healthy(proc, f"{provider}/health", log, timeout=90)
        yield [
            servers.enter_context(
                asgi_server(log_dir, name=f"uvicorn-{n}", LOCAL_PROVIDER_URL=provider, **extra_env)
            )
            for n in range(instances)
        ]


def local_stripe(
    port: int, log: Path, state: Path | None = None, **env: str
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """``python -m apps.billing.local_stripe`` on ``port``, stopped when the block ends."""
    command = [sys.executable, "-m", "apps.billing.local_stripe", "--port", str(port)]
    if state is not None:
        command += ["--state", str(state)]
    # The dev stack's own settings must not leak into the server under test.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_STRIPE_")}
    return running(command, env={**clean, **env}, log=log)


@contextmanager
def stripe_server(log: Path, **env: str) -> Iterator[str]:
    """The local Stripe server on a free port, delivering no webhooks until a test says
    where (``POST /_local/webhook``); its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with local_stripe(port, log, None, LOCAL_STRIPE_WEBHOOK_URL="", **env) as proc:
        wait_until_healthy(proc, f"{base}/health", log)
        yield base


# A Celery worker for the test database (solo pool: one task at a time, as in production).
WORKER = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
WORKER += ["--without-gossip", "--without-mingle", "--loglevel", "INFO"]


@contextmanager
def worker_stack(log_dir: Path) -> Iterator[str]:
    """uvicorn that enqueues tasks (not eager) and a real worker, sharing a temporary
    MEDIA_ROOT: uploads are ingested as in production, with progress to watch."""
    with tempfile.TemporaryDirectory() as media:
        env = process_env(MEDIA_ROOT=media)
        with (
            running(WORKER, env=env, log=log_dir / "worker.log"),
            asgi_server(log_dir, CELERY_TASK_ALWAYS_EAGER="false", MEDIA_ROOT=media) as base,
        ):
            yield base
