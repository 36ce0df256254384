"""Is this user still a member? For requests admitted on a ticket signed earlier.

A lean view that admits a request on a signed ticket (the chat's event streams) asks
here whether its user still belongs to the organisation. The answer is cached in Redis
for MEMBER_CACHE_S, shared by every web process, so a stream's reconnects cost one Redis
read; ``member_remove`` deletes the entry on commit, so a removal takes effect at once,
and the expiry bounds staleness should that delete ever be lost.
"""

from __future__ import annotations

from uuid import UUID

from apps.core.db import in_worker_thread, tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.tenants.models import Membership

MEMBER_CACHE_S = 10


def _member_key(tenant_id: object, user_id: object) -> str:
    return f"tenant:{{{tenant_id}}}:member:{user_id}"


async def is_member(*, tenant_id: UUID, user_id: str) -> bool:
    """Whether ``user_id`` is (still) a member of ``tenant_id``."""
    redis = get_redis()
    key = _member_key(tenant_id, user_id)
    cached = await redis.get(key)
    if cached is not None:
        return cached == b"1"
    member = await in_worker_thread(_is_member)(tenant_id, user_id)
    await redis.set(key, b"1" if member else b"0", ex=MEMBER_CACHE_S)
    return member


def _is_member(tenant_id: UUID, user_id: str) -> bool:
    with tenant_context(tenant_id):
        return Membership.objects.filter(tenant_id=tenant_id, user_id=user_id).exists()


def forget_member(*, tenant_id: object, user_id: object) -> None:
    """Drop the cached answer for this member (call after their membership ends)."""
    sync_redis().delete(_member_key(tenant_id, user_id))
