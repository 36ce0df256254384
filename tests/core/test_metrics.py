"""/metrics (apps/core/metrics.py): absent without a token, refused without the right
one; requests, gateway calls and the billing backlog counted; counters from several
processes summed in multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.models import UsageOutbox
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant

TOKEN = "metrics-test-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


@override_settings(METRICS_TOKEN="")
def test_without_a_token_configured_the_endpoint_does_not_exist(db: None) -> None:
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "header", [None, "", f"Basic {TOKEN}", "Bearer wrong", f"Bearer {TOKEN}x", "Bearer "]
)
def test_a_missing_or_wrong_token_gets_401(db: None, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"starter_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_requests_are_counted_by_view_name_and_status(owner: User, tenant: Tenant) -> None:
    key = (
        "starter_http_requests_total",
        (("method", "GET"), ("status", "200"), ("view", "tenants:dashboard")),
    )
    before = scrape().get(key, 0.0)
    client = Client()
    client.force_login(owner)
    for _ in range(3):
        assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 200
    assert client.get(f"/t/{tenant.slug}/no-such-page/").status_code == 404
    after = scrape()
    assert after[key] == before + 3
    # An unknown path is one label, never the path itself.
    assert not any(dict(labels).get("view", "").startswith("/") for _, labels in after)


@pytest.mark.usefixtures("live_db")
@override_settings(METRICS_TOKEN=TOKEN)
def test_gateway_calls_and_the_meter_backlog_are_reported() -> None:
    from tests.gateway.test_ledger import new_tenant

    tenant = new_tenant("Metrics Co")
    model = f"openai/metrics-{uuid.uuid4().hex[:6]}"
    ctx = CallContext(tenant_id=tenant.id, feature="chat")
    before = scrape()
    for cache, n in (("", 40), ("exact", 0)):
        record_sync(
            LedgerEntry(
                ctx=ctx,
                requested_model="fast",
                served_model=model,
                tokens_in=n,
                tokens_out=n,
                cost_usd=Decimal("0.0020") if n else Decimal(0),
                saved_cost_usd=Decimal(0) if n else Decimal("0.0020"),
                cache=cache,
                latency_ms=120,
            )
        )
    after = scrape()
    calls = "starter_gateway_calls_total"
    assert after[(calls, (("cache", "miss"), ("model", model), ("status", "ok")))] == 1
    assert after[(calls, (("cache", "exact"), ("model", model), ("status", "ok")))] == 1
    tokens = "starter_gateway_tokens_total"
    assert after[(tokens, (("direction", "out"), ("model", model)))] == 40
    cost = after[("starter_gateway_cost_usd_total", (("cache", "miss"), ("model", model)))]
    assert cost == pytest.approx(0.002)
    latency = "starter_gateway_latency_seconds_count"
    assert after[(latency, (("cache", "miss"), ("model", model)))] == 1
    # The billable call left one outbox row; the cache hit none.
    with tenant_context(tenant.id):
        assert UsageOutbox.objects.filter(tenant=tenant).count() == 1
    backlog = ("starter_billing_meter_backlog", (("kind", "outbox_rows"),))
    assert after[backlog] == before[backlog] + 1
    depth = ("starter_celery_queue_depth", (("queue", "celery"), ("state", "waiting")))
    assert depth in after


_WORKER = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()
from decimal import Decimal
from apps.core import metrics
if sys.argv[1] == "count":
    metrics.observe_gateway_call(
        model="mp-model", cache="", status="ok", latency_ms=5, tokens_in=1,
        tokens_out=int(sys.argv[2]), cost_usd=Decimal(0), saved_usd=Decimal(0),
    )
    metrics.SSE_STREAMS.inc()
else:
    sys.stdout.write(metrics.render().decode())
"""


def test_counters_of_several_processes_are_summed_in_multiprocess_mode(
    tmp_path: Path, live_db: None
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    root = Path(settings.BASE_DIR)

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    run("count", "7")
    run("count", "5")
    found = samples(run("render"))
    key = ("starter_gateway_tokens_total", (("direction", "out"), ("model", "mp-model")))
    assert found[key] == 12
    calls = (
        "starter_gateway_calls_total",
        (("cache", "miss"), ("model", "mp-model"), ("status", "ok")),
    )
    assert found[calls] == 2
    # livesum: both writers have exited, so their open streams no longer count.
    assert found[("starter_sse_streams_active", ())] == 0


def test_an_event_stream_is_counted_while_the_server_sends_it_and_no_longer() -> None:
    from contextlib import aclosing

    from asgiref.sync import async_to_sync

    from apps.core import metrics
    from apps.core.http import event_stream_response

    def open_streams() -> float:
        return samples(metrics.render().decode())[("starter_sse_streams_active", ())]

    async def events() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        yield b"data: two\n\n"
        yield b"data: three\n\n"

    async def send(stop_after: int) -> tuple[float, list[tuple[bytes, float]], float]:
        before = open_streams()
        response = event_stream_response(events())
        sent: list[tuple[bytes, float]] = []
        # As Django's ASGI handler consumes it (a client that leaves stops it early).
        async with aclosing(aiter(response)) as content:
            async for chunk in content:
                sent.append((chunk, open_streams() - before))
                if len(sent) == stop_after:
                    break
        return before, sent, open_streams() - before

    _, sent, after = async_to_sync(send)(3)
    assert sent == [(b"data: one\n\n", 1), (b"data: two\n\n", 1), (b"data: three\n\n", 1)]
    assert after == 0
    _, sent, after = async_to_sync(send)(1)
    assert [chunk for chunk, _ in sent] == [b"data: one\n\n"]
    assert after == 0
