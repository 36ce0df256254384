from __future__ import annotations

from celery import shared_task

from apps.core.tasks import TenantTask
from apps.gateway import journal
from apps.tenants.services import notification_email_managers


@shared_task(base=TenantTask, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_budget_alert_email(*, tenant_id: str, notification_id: str) -> int:
    """Email a budget alert to the tenant's owners and admins. Returns how many got it."""
    return notification_email_managers(
        notification_id=notification_id, link_name="gateway:ai_settings", link_label="AI settings"
    )


@shared_task(acks_late=True)
def ledger_drain() -> int:
    """Write the ledger entries a stopped or crashed process left in the journal (Celery
    beat, every 30 s; apps/gateway/journal.py). Returns the rows written."""
    return journal.drain()
