from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.core.tasks import TenantTask
from apps.tenants.models import MANAGER_ROLES, Membership, Notification


@shared_task(base=TenantTask, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_budget_alert_email(*, tenant_id: str, notification_id: str) -> int:
    """Email a budget alert to the tenant's owners and admins. Returns how many got it."""
    note = Notification.objects.select_related("tenant").filter(id=notification_id).first()
    if note is None:
        return 0
    recipients = list(
        Membership.objects.filter(tenant_id=tenant_id, role__in=MANAGER_ROLES).values_list(
            "user__email", flat=True
        )
    )
    link = settings.SITE_URL + reverse("gateway:ai_settings", args=[note.tenant.slug])
    send_mail(
        subject=f"[{note.tenant.name}] {note.title}",
        message=f"{note.body}\n\nAI settings: {link}\n",
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)
