"""Budget alerts: an in-app notification, an email to owners and admins and a signed
POST to the tenant's webhook (apps/tenants/webhooks.py), once per threshold per month
(a Redis SET NX decides who fires it; the webhook's delivery key makes it once too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from apps.core.db import tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.tenants.models import AuditAction, Notification, Tenant
from apps.tenants.services import audit_record
from apps.tenants.webhooks import alert_enqueue

if TYPE_CHECKING:
    from apps.gateway.config import ResolvedConfig

_TTL_S = 40 * 24 * 3600


def _alert_key(cfg: ResolvedConfig, percent: int, month: str) -> str:
    return f"gw:{{{cfg.tenant_id}}}:budget_alert:{month}:{percent}"


async def fire_budget_alert_once(cfg: ResolvedConfig, *, percent: int, month: str) -> bool:
    key = _alert_key(cfg, percent, month)
    redis = get_redis()
    if not await redis.set(key, 1, nx=True, ex=_TTL_S):
        return False
    try:
        await sync_to_async(create_budget_notification)(cfg.tenant_id, percent, cfg, month)
    except BaseException:
        await redis.delete(key)  # not sent: let the next call try again
        raise
    return True


def fire_budget_alert_once_sync(cfg: ResolvedConfig, *, percent: int, month: str) -> bool:
    """``fire_budget_alert_once`` off the event loop."""
    key = _alert_key(cfg, percent, month)
    redis = sync_redis()
    if not redis.set(key, 1, nx=True, ex=_TTL_S):
        return False
    try:
        create_budget_notification(cfg.tenant_id, percent, cfg, month)
    except BaseException:
        redis.delete(key)  # not sent: let the next call try again
        raise
    return True


def create_budget_notification(
    tenant_id: str, percent: int, cfg: ResolvedConfig, month: str | None = None
) -> None:
    from apps.gateway.tasks import send_budget_alert_email

    budget = f"${cfg.monthly_budget_usd:,.2f}"
    if percent >= 100:
        action = {
            "downgrade": "Calls now use the cheaper model until the 1st.",
            "throttle": "Calls are now slowed down until the 1st.",
            "notify": "Calls continue; spending is above the budget.",
            "block": "AI calls are blocked until the 1st.",
        }[cfg.budget_action]
        title, level = f"AI budget reached: {budget} this month", "error"
        body = (
            f"Your organisation used its monthly AI budget. {action} "
            "An admin can raise it in AI settings."
        )
    else:
        title, level = f"{percent}% of the monthly AI budget used", "warning"
        body = f"Your organisation has used {percent}% of its {budget} monthly AI budget."
    with tenant_context(tenant_id):
        tenant = Tenant.objects.get(id=tenant_id)
        note = Notification.objects.create(
            tenant=tenant, kind=f"budget.{percent}", level=level, title=title, body=body
        )
        audit_record(
            tenant=tenant, actor=None, action=AuditAction.BUDGET_ALERT, target=f"{percent}%"
        )
        month = month or timezone.now().strftime("%Y-%m")
        alert_enqueue(
            tenant=tenant,
            key=f"budget:{month}:{percent}",
            event_type="budget.threshold_reached",
            data={
                "percent": percent,
                "month": month,
                "monthly_budget_usd": f"{cfg.monthly_budget_usd:.2f}",
                "action_at_100": cfg.budget_action,
                "title": title,
                "message": body,
            },
        )
        transaction.on_commit(
            lambda: send_budget_alert_email.delay(
                tenant_id=str(tenant_id), notification_id=str(note.id)
            )
        )
