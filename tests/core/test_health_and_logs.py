from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import User
from apps.tenants.models import Tenant
from tests.servers import asgi_server


def test_healthz_and_readyz_ok(db: None) -> None:
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_readyz_503_when_redis_is_down(db: None) -> None:
    ready = Client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unreachable"}


def test_readyz_503_when_database_is_down(live_db: None, artifacts_dir: Path) -> None:
    """A real ASGI server whose database is unreachable: alive, but not ready."""
    bad_db = "postgres://app_runtime:x@127.0.0.1:1/app"
    with asgi_server(artifacts_dir / "readyz-db-down", DATABASE_URL=bad_db) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=15)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unreachable"


@override_settings(ALLOWED_HOSTS=["app.example.com"])
def test_the_probes_answer_whatever_the_host_and_nothing_else_does(db: None) -> None:
    """A container's health check calls the process by its address, which production's
    allowed hosts need not list: the probes answer it, every other page refuses it."""
    client = Client(HTTP_HOST="127.0.0.1:8000")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/accounts/login/").status_code == 400
    assert client.post("/readyz").status_code == 400  # only GET and HEAD are probes
    assert Client(HTTP_HOST="app.example.com").get("/accounts/login/").status_code == 200


def test_probes_answer_an_unlisted_host_on_the_asgi_server(
    live_db: None, artifacts_dir: Path
) -> None:
    """The same through a real ASGI server (the async path), as compose's check calls it."""
    with asgi_server(
        artifacts_dir / "probes-any-host", DJANGO_ALLOWED_HOSTS="app.example.com"
    ) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=15).json()["status"] == "ok"
        assert httpx.get(f"{base}/accounts/login/").status_code == 400


def test_json_logs_carry_request_user_and_tenant_ids(owner: User, tenant: Tenant) -> None:
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        client = Client()
        client.force_login(owner)
        response = client.get(
            reverse("tenants:dashboard", args=[tenant.slug]), HTTP_X_REQUEST_ID="req-abc-12345"
        )
    finally:
        handler.setStream(previous)
    assert response["X-Request-ID"] == "req-abc-12345"
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    request_line = next(line for line in lines if line["message"] == "request")
    assert request_line["request_id"] == "req-abc-12345"
    assert request_line["user_id"] == str(owner.pk)
    assert request_line["tenant_id"] == str(tenant.id)
    assert request_line["status"] == 200
    assert request_line["level"] == "INFO"


def test_malformed_request_id_is_replaced(db: None) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32
