"""What every handler works with: the store, the event emitter, faults and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from apps.billing.local_stripe.errors import invalid, no_such
from apps.billing.local_stripe.faults import Faults
from apps.billing.local_stripe.idempotency import Idempotency
from apps.billing.local_stripe.objects import list_object
from apps.billing.local_stripe.store import Json, Store
from apps.billing.local_stripe.webhooks import DEFAULT_SECRET, Webhooks

DEFAULT_PORT = 12111


@dataclass(frozen=True, slots=True)
class Settings:
    """From the environment when the app is built (docs/local-stripe.md, Environment)."""

    public_url: str
    state_file: Path | None
    webhook_url: str | None
    webhook_secret: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        port = env.get("LOCAL_STRIPE_PORT") or str(DEFAULT_PORT)
        public_url = env.get("LOCAL_STRIPE_PUBLIC_URL") or f"http://127.0.0.1:{port}"
        state = env.get("LOCAL_STRIPE_STATE", "").strip()
        return cls(
            public_url=public_url.rstrip("/"),
            state_file=Path(state) if state else None,
            webhook_url=env.get("LOCAL_STRIPE_WEBHOOK_URL", "").strip() or None,
            webhook_secret=env.get("LOCAL_STRIPE_WEBHOOK_SECRET", "").strip() or DEFAULT_SECRET,
        )


@dataclass
class Local:
    settings: Settings
    store: Store
    webhooks: Webhooks
    faults: Faults = field(default_factory=Faults)
    idempotency: Idempotency = field(default_factory=Idempotency)

    @classmethod
    def build(cls, settings: Settings) -> Local:
        store = Store(settings.state_file)
        return cls(settings, store, Webhooks(store, settings.webhook_url, settings.webhook_secret))

    def url(self, path: str) -> str:
        """An absolute URL of a hosted page, as a browser reaches it."""
        return self.settings.public_url + path


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as a handler sees it: validated parameters and where it came from
    (events record the request id and idempotency key, as Stripe's do)."""

    local: Local
    params: Json
    path: Mapping[str, str]
    request: Json

    @property
    def store(self) -> Store:
        return self.local.store


def paginate(call: Call, items: list[Json], url: str, order: str = "created") -> Json:
    """A list page, newest (highest ``order``) first, with Stripe's ``limit`` (1 to 100,
    default 10), ``starting_after`` and ``ending_before`` (ids)."""
    limit = call.params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", "limit")
    # Ascending and stable, then reversed: objects made in the same second come newest
    # first too (the store keeps creation order).
    items = sorted(items, key=lambda obj: int(obj[order]))[::-1]
    ids = [obj["id"] for obj in items]
    for cursor in ("starting_after", "ending_before"):
        if cursor in call.params and call.params[cursor] not in ids:
            raise no_such("object", call.params[cursor], cursor, status=400)
    if "starting_after" in call.params:
        rest = items[ids.index(call.params["starting_after"]) + 1 :]
        return list_object(rest[:limit], url, has_more=len(rest) > limit)
    if "ending_before" in call.params:
        before = items[: ids.index(call.params["ending_before"])]
        return list_object(before[-limit:], url, has_more=len(before) > limit)
    return list_object(items[:limit], url, has_more=len(items) > limit)


def fetch(call: Call, kind: str, object_id: str, label: str, param: str | None = None) -> Json:
    """The stored object, or Stripe's "No such …": 404 for a URL's id, 400 for a param's."""
    obj = call.store.get(kind, object_id)
    if obj is None:
        raise no_such(label, object_id, param or "id", status=400 if param else 404)
    return obj
