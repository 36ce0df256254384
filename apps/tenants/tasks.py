from __future__ import annotations

import logging
import secrets

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core.tasks import TenantTask
from apps.tenants.models import Invitation, InvitationStatus

logger = logging.getLogger(__name__)


@shared_task(base=TenantTask, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(*, tenant_id: str, invitation_id: str, token: str) -> bool:
    """Email the invitation link. Runs in the tenant's context; a no-op once the
    invitation is no longer pending, so a retry or a duplicate delivery is harmless."""
    invitation = (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(id=invitation_id, tenant_id=tenant_id, status=InvitationStatus.PENDING)
        .first()
    )
    if invitation is None:
        logger.info(
            "invitation no longer pending; not emailed", extra={"invitation_id": invitation_id}
        )
        return False
    link = settings.SITE_URL + reverse("invitation_accept", args=[token])
    context = {"invitation": invitation, "link": link, "tenant_name": invitation.tenant.name}
    send_mail(
        subject=f"You're invited to join {invitation.tenant.name}",
        message=render_to_string("tenants/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
    logger.info("invitation email sent", extra={"invitation_id": invitation_id})
    return True


def _backoff_s(retries: int) -> int:
    """30 s, 1, 2, 4, 8 min… up to an hour, with jitter so receivers are not stampeded."""
    base: int = min(30 * 2**retries, 3600)
    return base + secrets.randbelow(base // 4 + 1)


@shared_task(bind=True, max_retries=settings.WEBHOOK_MAX_ATTEMPTS - 1, acks_late=True)
def deliver_webhook(self: Task, *, tenant_id: str, delivery_id: str) -> str:  # type: ignore[type-arg]
    """Send one alert to the tenant's webhook; retried with backoff while the receiver
    is down. Safe to run twice: a delivered row is not sent again."""
    from apps.tenants import webhooks  # services imports this module; webhooks imports it

    final = self.request.retries >= (self.max_retries or 0)
    try:
        return webhooks.deliver(tenant_id=tenant_id, delivery_id=delivery_id, final_attempt=final)
    except webhooks.DeliveryFailed as exc:
        raise self.retry(countdown=_backoff_s(self.request.retries), exc=exc) from exc
