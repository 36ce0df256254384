"""Alert webhooks (apps/tenants/webhooks.py): signed POSTs to a real local receiver, once
per alert and period, retried while the receiver fails; SSRF refused in production
settings; the settings page for managers only; rows under RLS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.gateway.alerts import create_budget_notification
from apps.gateway.config import resolve_sync
from apps.gateway.types import CallContext
from apps.tenants import webhooks
from apps.tenants.models import (
    AuditAction,
    AuditEvent,
    DeliveryStatus,
    Tenant,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.conftest import owner_of


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give, then 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records each POST and answers as told."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.answers.pop(0) if state.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def configure(tenant: Tenant, url: str) -> WebhookEndpoint:
    with tenant_context(tenant.id):
        webhooks.webhook_update(tenant=tenant, actor=owner_of(tenant.id), url=url, enabled=True)
        return WebhookEndpoint.objects.get(tenant=tenant)


def deliveries(tenant: Tenant) -> list[WebhookDelivery]:
    with tenant_context(tenant.id):
        return list(WebhookDelivery.objects.order_by("created_at"))


# --- Signatures ---------------------------------------------------------------------------


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"type":"budget.threshold_reached"}'
    header = webhooks.sign("whsec_a", body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert webhooks.verify_signature("whsec_a", body, header, now=1_700_000_100)
    assert not webhooks.verify_signature("whsec_a", body + b" ", header, now=1_700_000_100)
    assert not webhooks.verify_signature("whsec_b", body, header, now=1_700_000_100)
    # Replayed after the five-minute tolerance.
    assert not webhooks.verify_signature("whsec_a", body, header, now=1_700_000_301)
    assert not webhooks.verify_signature("whsec_a", body, "v1=abc", now=1_700_000_000)


# --- Budget alerts to a real receiver -----------------------------------------------------


def test_a_budget_alert_is_posted_once_signed(
    tenant: Tenant,
    receiver: Receiver,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    endpoint = configure(tenant, receiver.url)
    cfg = resolve_sync(CallContext(tenant_id=tenant.id, feature="chat"))
    for _ in range(2):  # a second firing of the same threshold (another process, a retry)
        with django_capture_on_commit_callbacks(execute=True):
            create_budget_notification(str(tenant.id), 80, cfg, "2026-12")
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert webhooks.verify_signature(endpoint.secret, body, headers["starter-signature"])
    payload = json.loads(body)
    assert payload["type"] == headers["starter-event"] == "budget.threshold_reached"
    assert payload["tenant"] == {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name}
    assert payload["data"]["percent"] == 80
    assert payload["data"]["month"] == "2026-12"
    [delivery] = deliveries(tenant)
    assert headers["starter-delivery"] == payload["id"] == str(delivery.id)
    assert (delivery.key, delivery.status, delivery.attempts) == (
        "budget:2026-12:80",
        DeliveryStatus.DELIVERED,
        1,
    )
    assert delivery.response_status == 200
    # The next threshold is another alert.
    with django_capture_on_commit_callbacks(execute=True):
        create_budget_notification(str(tenant.id), 100, cfg, "2026-12")
    assert [json.loads(b)["data"]["percent"] for _, b in receiver.requests] == [80, 100]


def test_no_webhook_means_no_delivery(
    tenant: Tenant, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    cfg = resolve_sync(CallContext(tenant_id=tenant.id, feature="chat"))
    with django_capture_on_commit_callbacks(execute=True):
        create_budget_notification(str(tenant.id), 50, cfg, "2026-12")
    assert deliveries(tenant) == []


def test_a_failing_receiver_is_retried_then_delivered_or_given_up(
    tenant: Tenant, receiver: Receiver
) -> None:
    configure(tenant, receiver.url)
    with tenant_context(tenant.id):
        first = webhooks.alert_enqueue(tenant=tenant, key="k1", event_type="t", data={})
        second = webhooks.alert_enqueue(tenant=tenant, key="k2", event_type="t", data={})
    assert first is not None
    assert second is not None
    receiver.answers = [503, 500]
    ids = {"tenant_id": str(tenant.id)}
    with pytest.raises(webhooks.DeliveryFailed, match="answered 503"):
        webhooks.deliver(**ids, delivery_id=str(first.id), final_attempt=False)
    with pytest.raises(webhooks.DeliveryFailed, match="answered 500"):
        webhooks.deliver(**ids, delivery_id=str(first.id), final_attempt=False)
    rows = {d.key: d for d in deliveries(tenant)}
    assert (rows["k1"].status, rows["k1"].attempts) == (DeliveryStatus.PENDING, 2)
    assert rows["k1"].last_error == "The receiver answered 500."
    assert webhooks.deliver(**ids, delivery_id=str(first.id), final_attempt=False) == "delivered"
    # Each try was signed afresh over the same body, with the same delivery id.
    assert len({body for _, body in receiver.requests}) == 1
    assert len({h["starter-delivery"] for h, _ in receiver.requests}) == 1
    # Delivered is final: running the task again sends nothing.
    sent = len(receiver.requests)
    assert webhooks.deliver(**ids, delivery_id=str(first.id), final_attempt=False) == "delivered"
    assert len(receiver.requests) == sent
    # The last allowed attempt fails for good.
    receiver.answers = [502]
    assert webhooks.deliver(**ids, delivery_id=str(second.id), final_attempt=True) == "failed"
    rows = {d.key: d for d in deliveries(tenant)}
    assert (rows["k2"].status, rows["k2"].response_status) == (DeliveryStatus.FAILED, 502)


# --- Server-side request forgery ----------------------------------------------------------


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://93.184.215.14/hook", "https://"),
        ("https://127.0.0.1/hook", "private or local address (127.0.0.1)"),
        ("https://localhost:8443/hook", "private or local address"),
        ("https://10.0.0.5/hook", "private or local address (10.0.0.5)"),
        ("https://169.254.169.254/latest/meta-data", "private or local address"),
        ("https://[::1]/hook", "private or local address (::1)"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("ftp://93.184.215.14/hook", "https://"),
    ],
)
def test_production_refuses_private_and_plain_http_urls(url: str, says: str) -> None:
    with pytest.raises(ServiceError, match=says.replace("(", r"\(").replace(")", r"\)")):
        webhooks.check_url(url)


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
def test_production_accepts_a_public_https_url() -> None:
    webhooks.check_url("https://93.184.215.14/hook")


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
def test_a_url_that_turned_private_is_not_called(tenant: Tenant, receiver: Receiver) -> None:
    with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):
        configure(tenant, receiver.url)
    with tenant_context(tenant.id):
        queued = webhooks.alert_enqueue(tenant=tenant, key="k", event_type="t", data={})
    assert queued is not None
    result = webhooks.deliver(
        tenant_id=str(tenant.id), delivery_id=str(queued.id), final_attempt=False
    )
    assert result == "failed"
    assert receiver.requests == []


# --- The settings page --------------------------------------------------------------------


def page(tenant: Tenant) -> str:
    return reverse("tenants:webhook", args=[tenant.slug])


def test_owner_saves_rotates_and_sends_a_test_event(
    owner: User,
    tenant: Tenant,
    receiver: Receiver,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = Client()
    client.force_login(owner)
    shown = client.get(page(tenant))
    assert shown.status_code == 200
    with tenant_context(tenant.id):
        secret = WebhookEndpoint.objects.get(tenant=tenant).secret
    assert secret.startswith("whsec_")
    assert secret in shown.content.decode()
    saved = client.post(page(tenant), {"section": "save", "url": receiver.url, "enabled": "on"})
    assert saved.status_code == 302
    client.post(page(tenant), {"section": "rotate"})
    with tenant_context(tenant.id):
        endpoint = WebhookEndpoint.objects.get(tenant=tenant)
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert endpoint.url == receiver.url
    assert endpoint.secret != secret
    assert {AuditAction.WEBHOOK_UPDATED, AuditAction.WEBHOOK_SECRET_ROTATED} <= actions
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page(tenant), {"section": "test"})
    [(headers, body)] = receiver.requests
    assert json.loads(body)["type"] == "webhook.test"
    assert webhooks.verify_signature(endpoint.secret, body, headers["starter-signature"])
    log = client.get(page(tenant)).content.decode()
    assert "webhook.test" in log
    assert "Delivered" in log


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
def test_the_page_refuses_a_private_url_with_a_clear_message(owner: User, tenant: Tenant) -> None:
    client = Client()
    client.force_login(owner)
    response = client.post(
        page(tenant), {"section": "save", "url": "https://127.0.0.1/x", "enabled": "on"}
    )
    assert response.status_code == 400
    assert "use a public https address" in response.content.decode()
    with tenant_context(tenant.id):
        assert WebhookEndpoint.objects.get(tenant=tenant).url == ""


def test_members_and_outsiders_cannot_reach_the_page(
    tenant: Tenant, member: User, outsider: User, receiver: Receiver
) -> None:
    endpoint = configure(tenant, receiver.url)
    client = Client()
    client.force_login(member)
    assert client.get(page(tenant)).status_code == 403
    assert client.post(page(tenant), {"section": "rotate"}).status_code == 403
    client.force_login(outsider)
    assert client.get(page(tenant)).status_code == 404
    assert client.post(page(tenant), {"section": "rotate"}).status_code == 404
    with tenant_context(tenant.id):
        assert WebhookEndpoint.objects.get(tenant=tenant).secret == endpoint.secret


def test_rls_hides_endpoints_and_deliveries_from_other_tenants(
    tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    configure(tenant, receiver.url)
    with tenant_context(tenant.id):
        webhooks.alert_enqueue(tenant=tenant, key="k", event_type="t", data={})
    with tenant_context(other_tenant.id):
        assert WebhookEndpoint.objects.count() == 0
        assert WebhookDelivery.objects.count() == 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM tenants_webhookendpoint WHERE tenant_id = %s", [tenant.id]
            )
            assert cursor.fetchone()[0] == 0
            cursor.execute("SELECT count(*) FROM tenants_webhookdelivery")
            assert cursor.fetchone()[0] == 0
    # No tenant at all: nothing (fail closed).
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tenants_webhookendpoint")
        assert cursor.fetchone()[0] == 0
