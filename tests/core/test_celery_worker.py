"""A real Celery worker on the embedded Valkey runs a tenant task inside the tenant's
RLS context."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

from apps.core.db import tenant_context
from apps.tenants import services
from apps.tenants.models import Membership
from tests.conftest import make_user
from tests.servers import process_env, running


def test_worker_sends_invitation_email_in_tenant_context(
    live_db: None, artifacts_dir: Path, tmp_path: Path
) -> None:
    from config.celery import app

    app.conf.task_always_eager = False  # enqueue for the real worker
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"owner-{suffix}@example.com")
    tenant = services.tenant_create(owner=owner, name=f"Worker Test {suffix}")
    mail_dir = tmp_path / "mail"
    env = process_env(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
    )
    env["EMAIL_FILE_PATH"] = str(mail_dir)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    with running(command, env=env, log=artifacts_dir / "celery-worker.log"):
        with tenant_context(tenant.id):
            actor = Membership.objects.get(user=owner)
            _, token = services.invitation_create(
                tenant=tenant, actor=actor, email=f"invitee-{suffix}@example.com"
            )
        # The task was enqueued by transaction.on_commit when the block above committed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            mail_dir.exists()
            and any(f"invitee-{suffix}" in p.read_text() for p in mail_dir.iterdir())
        ):
            time.sleep(0.2)
    sent = [p.read_text() for p in mail_dir.iterdir()] if mail_dir.exists() else []
    # Only this test's email: the queue may hold other tests' tasks, which run too.
    messages = [m for m in sent if f"invitee-{suffix}@example.com" in m]
    assert len(messages) == 1, (artifacts_dir / "celery-worker.log").read_text()[-3000:]
    assert f"invitee-{suffix}@example.com" in messages[0]
    assert f"/invitations/{token}/" in messages[0]
    assert f"Worker Test {suffix}" in messages[0]


def test_tenant_task_without_tenant_id_is_refused(db: None) -> None:
    import pytest

    from apps.tenants.tasks import send_invitation_email

    with pytest.raises(ValueError, match="tenant_id"):
        send_invitation_email(invitation_id="x", token="y")
