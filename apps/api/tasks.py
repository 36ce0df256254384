from __future__ import annotations

from celery import shared_task

from apps.core.tasks import TenantTask
from apps.tenants.services import notification_email_managers


@shared_task(base=TenantTask, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_key_alert_email(*, tenant_id: str, notification_id: str) -> int:
    """Email an API key alert (unusual use) to the tenant's owners and admins. Returns how
    many got it."""
    return notification_email_managers(
        notification_id=notification_id, link_name="api:keys", link_label="API keys"
    )
