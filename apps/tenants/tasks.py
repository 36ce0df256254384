from __future__ import annotations

import logging

from celery import shared_task
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
