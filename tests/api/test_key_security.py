"""API key rotation with an overlap, the last-used address, and anomalous use (a spike
against the key's own baseline, a new network): alerts, suspension, re-enabling."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from apps.accounts.models import User
from apps.api import anomaly, key_cache
from apps.api.models import ApiKey
from apps.api.services import api_key_rotate
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.tenants.models import AuditAction, AuditEvent, Notification, Role, Tenant
from tests.api.test_api_keys import create_key, login, membership
from tests.conftest import add_member, make_user

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse

pytestmark = pytest.mark.django_db
ME = "/api/v1/me"


def call(raw_key: str, ip: str = "203.0.113.7") -> ClientResponse:
    return Client().get(ME, headers={"Authorization": f"Bearer {raw_key}"}, REMOTE_ADDR=ip)


def error_code(response: ClientResponse) -> str:
    code: str = json.loads(response.content)["error"]["code"]
    return code


def error_message(response: ClientResponse) -> str:
    message: str = json.loads(response.content)["error"]["message"]
    return message


def fresh(key: ApiKey) -> ApiKey:
    with tenant_context(key.tenant_id):
        return ApiKey.objects.get(id=key.id)


def actions(tenant: Tenant) -> list[str]:
    with tenant_context(tenant.id):
        return list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))


def well_inside_a_minute() -> None:
    """Requests are counted per clock minute: let a test's burst fall in one."""
    into = time.time() % 60
    if into > 50:
        time.sleep(61 - into)


def suspend_on_anomaly(tenant: Tenant) -> None:
    with tenant_context(tenant.id):
        Tenant.objects.filter(id=tenant.id).update(suspend_anomalous_keys=True)


# --- Rotation ----------------------------------------------------------------------------


def test_rotation_gives_a_new_secret_and_the_old_one_works_until_the_overlap_ends(
    owner: User, tenant: Tenant
) -> None:
    old, old_raw = create_key(tenant, owner, name="Backend", scopes=("read",))
    response = login(owner).post(
        reverse("api:key_rotate", args=[tenant.slug, old.id]), {"overlap_hours": "24"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    new_raw = response.context["raw_key"]
    assert new_raw != old_raw
    assert f"The old key ({old.masked}) keeps working until" in response.text
    new = response.context["new_key"]
    assert (new.name, new.scopes) == ("Backend", ["read"])
    old = fresh(old)
    assert old.replaced_by_id == new.id
    assert old.expires_at is not None
    overlap = old.expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < overlap <= timedelta(hours=24)
    assert old.status == "Rotating out"
    # Both work during the overlap.
    assert call(old_raw).status_code == 200
    assert call(new_raw).status_code == 200
    assert actions(tenant)[-1] == AuditAction.API_KEY_ROTATED
    # After it, the old one is refused with what to do; the new one goes on.
    with tenant_context(tenant.id):
        ApiKey.objects.filter(id=old.id).update(expires_at=timezone.now())
    key_cache.clear()  # the update stands in for time passing; this process remembers the key
    refused = call(old_raw)
    assert refused.status_code == 401
    assert error_code(refused) == "expired_api_key"
    assert "rotated and its overlap period has ended" in error_message(refused)
    assert call(new_raw).status_code == 200


def test_rotation_without_overlap_stops_the_old_secret_at_once(owner: User, tenant: Tenant) -> None:
    old, old_raw = create_key(tenant, owner)
    with tenant_context(tenant.id):
        _, new_raw = api_key_rotate(
            tenant=tenant, actor=membership(tenant, owner), key=old, overlap=timedelta(0)
        )
    assert call(old_raw).status_code == 401
    assert call(new_raw).status_code == 200


def test_rotation_refuses_what_cannot_be_rotated(owner: User, tenant: Tenant) -> None:
    key, _ = create_key(tenant, owner)
    actor = membership(tenant, owner)
    with tenant_context(tenant.id):
        with pytest.raises(ServiceError, match="between 0 and 720 hours"):
            api_key_rotate(tenant=tenant, actor=actor, key=key, overlap=timedelta(days=31))
        api_key_rotate(tenant=tenant, actor=actor, key=key)
        with pytest.raises(ServiceError, match="already rotated; rotate its replacement"):
            api_key_rotate(tenant=tenant, actor=actor, key=fresh(key))
    bad = login(owner).post(
        reverse("api:key_rotate", args=[tenant.slug, key.id]), {"overlap_hours": "5000"}
    )
    assert bad.status_code == 400
    assert "Choose one of the overlaps offered." in bad.text
    assert key_count(tenant) == 2


def key_count(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return ApiKey.objects.count()


def test_members_and_outsiders_cannot_rotate_or_reenable(
    owner: User, tenant: Tenant, member: User, outsider: User, other_tenant: Tenant
) -> None:
    key, _ = create_key(tenant, owner)
    rotate = reverse("api:key_rotate", args=[tenant.slug, key.id])
    reenable = reverse("api:key_reenable", args=[tenant.slug, key.id])
    assert login(member).post(rotate, {"overlap_hours": "1"}).status_code == 403
    assert login(member).post(reenable).status_code == 403
    assert login(outsider).post(rotate, {"overlap_hours": "1"}).status_code == 404
    # The outsider's own organisation's URL with this key's id: not found either.
    foreign = reverse("api:key_rotate", args=[other_tenant.slug, key.id])
    assert login(outsider).post(foreign, {"overlap_hours": "1"}).status_code == 404
    assert key_count(tenant) == 1
    assert fresh(key).replaced_by_id is None


# --- Last use -----------------------------------------------------------------------------


def test_the_keys_page_shows_when_and_from_where_a_key_was_last_used(
    owner: User, tenant: Tenant
) -> None:
    key, raw = create_key(tenant, owner)
    assert call(raw, ip="198.51.100.23").status_code == 200
    assert fresh(key).last_used_ip == "198.51.100.23"
    page = login(owner).get(reverse("api:keys", args=[tenant.slug]))
    assert "from 198.51.100.23" in page.text


# --- Anomalies ----------------------------------------------------------------------------


def test_network_of_groups_addresses_by_24_and_48() -> None:
    assert anomaly.network_of("203.0.113.7") == "203.0.113.0/24"
    assert anomaly.network_of("::ffff:203.0.113.7") == "203.0.113.0/24"
    assert anomaly.network_of("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert anomaly.network_of("not an address") is None
    assert anomaly.network_of(None) is None


def test_use_from_a_new_network_alerts_the_admins_and_the_key_keeps_working(
    owner: User,
    tenant: Tenant,
    member: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    admin = make_user("dana@example.com")
    add_member(tenant, admin, Role.ADMIN)
    key, raw = create_key(tenant, owner)
    assert call(raw, ip="203.0.113.7").status_code == 200  # the first network: the baseline
    assert call(raw, ip="203.0.113.99").status_code == 200  # same /24
    assert AuditAction.API_KEY_ANOMALY not in actions(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        assert call(raw, ip="192.0.2.10").status_code == 200
    assert actions(tenant)[-1] == AuditAction.API_KEY_ANOMALY
    with tenant_context(tenant.id):
        note = Notification.objects.get(kind="api_key.anomaly")
    assert note.title == f"Unusual use of the API key CI ({key.masked})"
    assert note.body == (
        "Use from a new network, 192.0.2.0/24. "
        "If this was not expected, rotate or revoke the key in API keys."
    )
    (email,) = mail.outbox
    assert sorted(email.to) == ["alice@example.com", "dana@example.com"]  # not the member
    assert "/api-keys/" in email.body
    # Reported once: the network is now known.
    assert call(raw, ip="192.0.2.11").status_code == 200
    assert actions(tenant).count(AuditAction.API_KEY_ANOMALY) == 1


def test_a_tenant_that_chose_it_gets_the_key_suspended_until_an_admin_reenables_it(
    owner: User, tenant: Tenant
) -> None:
    suspend_on_anomaly(tenant)
    key, raw = create_key(tenant, owner)
    assert call(raw, ip="203.0.113.7").status_code == 200
    refused = call(raw, ip="192.0.2.10")
    assert refused.status_code == 403
    assert error_code(refused) == "suspended_api_key"
    assert error_message(refused) == (
        "This API key was suspended after unusual use (use from a new network, "
        "192.0.2.0/24). An owner or admin of the organisation can re-enable it in "
        "Organisation → API keys."
    )
    # From anywhere, until re-enabled.
    assert call(raw, ip="203.0.113.7").status_code == 403
    page = login(owner).get(reverse("api:keys", args=[tenant.slug]))
    assert "Suspended" in page.text
    assert "Re-enable" in page.text
    response = login(owner).post(reverse("api:key_reenable", args=[tenant.slug, key.id]))
    assert response.status_code == 302
    assert fresh(key).suspended_at is None
    assert call(raw, ip="192.0.2.10").status_code == 200
    assert actions(tenant)[-3:] == [
        AuditAction.API_KEY_ANOMALY,
        AuditAction.API_KEY_SUSPENDED,
        AuditAction.API_KEY_REENABLED,
    ]


def test_a_spike_against_the_keys_own_baseline_is_reported_once_a_minute(
    owner: User, tenant: Tenant, settings: Settings
) -> None:
    settings.API_KEY_BASELINE_MINUTES = 0
    settings.API_KEY_SPIKE_MIN_REQUESTS = 3
    _, raw = create_key(tenant, owner)
    well_inside_a_minute()
    assert call(raw).status_code == 200
    assert call(raw).status_code == 200
    assert AuditAction.API_KEY_ANOMALY not in actions(tenant)
    assert call(raw).status_code == 200  # the third this minute
    with tenant_context(tenant.id):
        event = AuditEvent.objects.get(action=AuditAction.API_KEY_ANOMALY)
    assert event.details["reason"] == "3 requests in a minute (usually 0.0)"
    assert call(raw).status_code == 200
    assert actions(tenant).count(AuditAction.API_KEY_ANOMALY) == 1


def test_the_baseline_is_the_keys_own_usual_rate(settings: Settings) -> None:
    """A key that usually makes 20 requests a minute is not spiking at 60; one that
    usually makes 1 is. Minutes are simulated with ``now``."""
    settings.API_KEY_BASELINE_MINUTES = 30
    settings.API_KEY_SPIKE_MIN_REQUESTS = 50
    settings.API_KEY_SPIKE_FACTOR = 10.0
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    start = 1_000_000 * 60.0
    for minute in range(60):
        for _ in range(20):
            anomaly.observe(busy, "203.0.113.7", now=start + minute * 60)
        anomaly.observe(quiet, "203.0.113.7", now=start + minute * 60)
    spike_minute = start + 60 * 60
    busy_seen = [anomaly.observe(busy, None, now=spike_minute) for _ in range(60)]
    quiet_seen = [anomaly.observe(quiet, None, now=spike_minute) for _ in range(60)]
    assert not any(seen is not None and seen.spike for seen in busy_seen)
    spikes = [i for i, seen in enumerate(quiet_seen) if seen is not None and seen.spike]
    assert spikes == [49]  # the 50th request of the minute, reported once
    quiet_last = quiet_seen[-1]
    assert quiet_last is not None
    assert 0.9 < quiet_last.usual_per_minute < 1.1
    anomaly.forget(busy)
    anomaly.forget(quiet)


def test_a_young_key_has_no_baseline_yet(settings: Settings) -> None:
    settings.API_KEY_BASELINE_MINUTES = 60
    settings.API_KEY_SPIKE_MIN_REQUESTS = 5
    key_id = uuid.uuid4()
    seen = [anomaly.observe(key_id, None, now=0.0) for _ in range(100)]
    assert not any(s is not None and s.spike for s in seen)
    anomaly.forget(key_id)


def test_the_replacement_inherits_the_networks_so_rotation_is_not_an_anomaly(
    owner: User,
    tenant: Tenant,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    suspend_on_anomaly(tenant)
    key, raw = create_key(tenant, owner)
    assert call(raw, ip="203.0.113.7").status_code == 200
    with tenant_context(tenant.id), django_capture_on_commit_callbacks(execute=True):
        _, new_raw = api_key_rotate(tenant=tenant, actor=membership(tenant, owner), key=fresh(key))
    assert call(new_raw, ip="203.0.113.8").status_code == 200
    assert AuditAction.API_KEY_ANOMALY not in actions(tenant)
    assert call(new_raw, ip="192.0.2.1").status_code == 403
