"""Tenants' alert webhooks: budget and margin alerts POSTed as signed JSON.

Signing, as Stripe does it: the header ``Starter-Signature: t=<unix time>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 over ``"<t>.<body>"`` with the endpoint's secret. A receiver
recomputes it over the raw body, compares in constant time and refuses a ``t`` older
than five minutes (a replay). ``verify_signature`` is that check, for tests and for
receivers written in Python (docs/security.md shows it).

Once only: each alert is one ``WebhookDelivery`` row under a unique key per period
(``budget:2026-12:80``), so an alert that fires twice (two processes, a retry) sends
once. ``deliver`` runs in a Celery task with exponential backoff; a receiver gets the
delivery's id in ``Starter-Delivery`` to drop a retry of a request it did process.

Server-side request forgery: in production an endpoint must be https and every address
its host resolves to must be public; the check runs when the URL is saved and again
before each send (DNS can change in between). ``WEBHOOK_ALLOW_PRIVATE_URLS`` (on in
development and tests) lets a local receiver through. Redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.tenants.models import (
    AuditAction,
    DeliveryStatus,
    Membership,
    Tenant,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.tenants.services import audit_record

SIGNATURE_HEADER = "Starter-Signature"
TOLERANCE_S = 300


# --- Signing ------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Starter-Signature`` header's value for ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str, body: bytes, header: str, *, now: int | None = None, tolerance_s: int = TOLERANCE_S
) -> bool:
    """A receiver's check: a ``v1`` signature of ``body`` under ``secret``, made within
    ``tolerance_s`` seconds of ``now``."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# --- Where a webhook may point ------------------------------------------------------------


def check_url(url: str) -> None:
    """Refuse an endpoint a production server must not call (``ServiceError`` says why)."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise ServiceError(
            "Use an https:// address for the webhook, such as https://example.com/hooks."
        )
    if parts.username or parts.password:
        raise ServiceError(
            "Leave credentials out of the webhook address; verify the signature instead."
        )
    if allow_private:
        return
    try:
        port = parts.port or 443
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as exc:
        raise ServiceError(
            f"The host {parts.hostname} could not be found. Check the address and try again."
        ) from exc
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global:
            raise ServiceError(
                f"The webhook's host resolves to a private or local address ({address}); "
                "use a public https address."
            )


# --- Settings page services ---------------------------------------------------------------


def endpoint_for(tenant: Tenant) -> WebhookEndpoint:
    """The tenant's endpoint, made (with a fresh secret, no URL) on first use. Call inside
    tenant_context."""
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        tenant=tenant, defaults={"secret": new_secret()}
    )
    return endpoint


def _require_manager(actor: Membership) -> None:
    if not actor.can_manage:
        raise ServiceError("Only owners and admins can change the alert webhook.")


def webhook_update(*, tenant: Tenant, actor: Membership, url: str, enabled: bool) -> None:
    """Save the endpoint's address (empty: no webhook). Call inside tenant_context."""
    _require_manager(actor)
    url = url.strip()
    if url:
        check_url(url)
    endpoint = endpoint_for(tenant)
    endpoint.url, endpoint.enabled = url, enabled
    endpoint.save(update_fields=["url", "enabled", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=_user(actor),
        action=AuditAction.WEBHOOK_UPDATED,
        target=url or "removed",
        enabled=enabled,
    )


def webhook_rotate_secret(*, tenant: Tenant, actor: Membership) -> None:
    """A new signing secret; the old one stops at once. Call inside tenant_context."""
    _require_manager(actor)
    endpoint = endpoint_for(tenant)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    audit_record(tenant=tenant, actor=_user(actor), action=AuditAction.WEBHOOK_SECRET_ROTATED)


def _user(actor: Membership) -> User:
    return actor.user


# --- Alerts -------------------------------------------------------------------------------


def alert_enqueue(
    *, tenant: Tenant, key: str, event_type: str, data: dict[str, Any]
) -> WebhookDelivery | None:
    """Queue ``event_type`` for the tenant's webhook once per ``key``; None when the
    tenant has no enabled webhook or the alert was already queued. Call inside
    tenant_context: the send starts when the transaction commits."""
    endpoint = WebhookEndpoint.objects.filter(tenant=tenant, enabled=True).exclude(url="").first()
    if endpoint is None:
        return None
    delivery_id = uuid.uuid4()
    payload = {
        "id": str(delivery_id),
        "type": event_type,
        "created": int(time.time()),
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
        "data": data,
    }
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                id=delivery_id,
                tenant=tenant,
                key=key,
                event_type=event_type,
                url=endpoint.url,
                payload=payload,
            )
    except IntegrityError:
        return None  # this alert was queued already
    from apps.tenants.tasks import deliver_webhook

    transaction.on_commit(
        lambda: deliver_webhook.delay(tenant_id=str(tenant.id), delivery_id=str(delivery_id))
    )
    return delivery


class DeliveryFailed(Exception):
    """A send that may work later (a timeout, a 5xx, a refused connection)."""


def deliver(*, tenant_id: str, delivery_id: str, final_attempt: bool) -> str:
    """Send one queued delivery; its status after. No transaction is held during the
    request. Raises ``DeliveryFailed`` when a retry may help and attempts remain."""
    with tenant_context(tenant_id):
        delivery = WebhookDelivery.objects.filter(id=delivery_id, tenant_id=tenant_id).first()
        if delivery is None or delivery.status == DeliveryStatus.DELIVERED:
            return delivery.status if delivery else "missing"
        secret = (
            WebhookEndpoint.objects.filter(tenant_id=tenant_id)
            .values_list("secret", flat=True)
            .first()
        )
    if secret is None:
        return _finish(delivery, status=DeliveryStatus.FAILED, error="The webhook was removed.")
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    error, response_status = "", None
    try:
        check_url(delivery.url)
        response = httpx.post(
            delivery.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Starter-Webhooks/1",
                SIGNATURE_HEADER: sign(secret, body),
                "Starter-Event": delivery.event_type,
                "Starter-Delivery": str(delivery.id),
            },
            timeout=settings.WEBHOOK_TIMEOUT_S,
            follow_redirects=False,
        )
        response_status = response.status_code
        if 200 <= response.status_code < 300:
            return _finish(
                delivery, status=DeliveryStatus.DELIVERED, response_status=response_status
            )
        error = f"The receiver answered {response.status_code}."
        permanent = response.status_code in (400, 401, 403, 404, 410)
    except ServiceError as exc:
        error, permanent = exc.message, True
    except httpx.HTTPError as exc:
        error, permanent = f"Could not reach the receiver: {type(exc).__name__}.", False
    status = DeliveryStatus.FAILED if permanent or final_attempt else DeliveryStatus.PENDING
    _finish(delivery, status=status, error=error, response_status=response_status)
    if status == DeliveryStatus.PENDING:
        raise DeliveryFailed(error)
    return status


def _finish(
    delivery: WebhookDelivery,
    *,
    status: str,
    error: str = "",
    response_status: int | None = None,
) -> str:
    with tenant_context(delivery.tenant_id):
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=status,
            attempts=delivery.attempts + 1,
            last_error=error[:300],
            response_status=response_status,
            delivered_at=timezone.now() if status == DeliveryStatus.DELIVERED else None,
            updated_at=timezone.now(),
        )
    return status


def recent_deliveries(tenant: Tenant, *, limit: int = 20) -> list[WebhookDelivery]:
    """The delivery log of the settings page. Call inside tenant_context."""
    return list(WebhookDelivery.objects.filter(tenant=tenant).order_by("-created_at")[:limit])


def webhook_send_test(*, tenant: Tenant, actor: Membership) -> WebhookDelivery | None:
    """A ``webhook.test`` event, to check a receiver's signature code. Call inside
    tenant_context; None when no webhook is set."""
    _require_manager(actor)
    return alert_enqueue(
        tenant=tenant,
        key=f"test:{uuid.uuid4().hex}",
        event_type="webhook.test",
        data={"message": "A test event from the alert webhook settings.", "by": actor.user.email},
    )
