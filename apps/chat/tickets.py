"""Stream tickets: who may read one answer's events, checked with no database query.

The answer's event stream is served without the session middleware (apps/core/asgi.py).
Instead, the request that created the answer (or rendered the page showing it), which
went through the full stack (session, user, membership, ownership), signs a ticket:
tenant, user and message, with SECRET_KEY. The events view then admits a request only
when

- the ticket's signature is good, it is younger than CHAT_STREAM_TTL_S (the stream's
  own lifetime) and it names the message and organisation of the URL, and
- the browser's session is alive and belongs to the ticket's user (one session-store
  read: a logged-out or different user gets a 404 even with the URL), and
- the user is still a member of the organisation (``apps.tenants.member_cache.is_member``:
  cached in Redis for at most 10 s, and dropped at once when a member is removed), on
  every connection, so on every resume too.

What it does not re-check, for the ticket's lifetime: a password changed elsewhere
after the ticket was made (a password change ends the session it was made in, and the
next page load or message goes through the full checks). An open stream is not cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import signing

from apps.core.db import in_worker_thread
from apps.core.lean import session_store

SALT = "apps.chat.tickets.events"


@dataclass(frozen=True)
class Ticket:
    tenant_id: UUID
    user_id: str
    message_id: UUID


def issue(*, tenant_id: Any, slug: str, user_id: Any, message_id: Any) -> str:
    """A ticket for ``user_id`` to read ``message_id``'s events in the tenant ``slug``."""
    claims = {"t": str(tenant_id), "s": slug, "u": str(user_id), "m": str(message_id)}
    return signing.TimestampSigner(salt=SALT).sign_object(claims, compress=False)


def read(value: str, *, slug: str, message_id: UUID) -> Ticket | None:
    """The ticket's claims when it is genuine, fresh and for this URL; else None."""
    try:
        claims = signing.TimestampSigner(salt=SALT).unsign_object(
            value, max_age=settings.CHAT_STREAM_TTL_S
        )
    except signing.BadSignature:  # also SignatureExpired
        return None
    if claims.get("s") != slug or claims.get("m") != str(message_id):
        return None
    return Ticket(tenant_id=UUID(claims["t"]), user_id=claims["u"], message_id=message_id)


async def session_user_id(session_key: str | None) -> str | None:
    """The id of the user logged in with this session, or None (no such live session)."""
    if not session_key:
        return None
    store = session_store(session_key)
    # A pooled thread, no thread started for this request; a session the cache no longer
    # holds is read from the database, whose connection goes back to the pool after.
    user_id = await in_worker_thread(store.get)(SESSION_KEY)
    return None if user_id is None else str(user_id)
