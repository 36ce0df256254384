"""Sign-in and password-reset throttling: the N+1th attempt is refused with a message that
says what to do, and the counts are shared by every web process (they live in Redis)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client, override_settings
from django.urls import reverse

from apps.tenants.adapters import per_account_window
from tests.conftest import PASSWORD, make_user
from tests.servers import asgi_server

REFUSED = "Too many failed sign-in attempts for this account. Wait 5 minutes"


def test_the_counters_live_in_the_shared_redis_cache() -> None:
    default = settings.CACHES["default"]
    assert default["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert default["LOCATION"] == settings.REDIS_URL
    # allauth's counters go to that cache (not a per-process one).
    assert isinstance(caches["default"], RedisCache)


def login(client: Client, email: str, password: str, ip: str, host: str = "testserver") -> str:
    response = client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=ip,
        HTTP_HOST=host,
    )
    return response.content.decode()


@pytest.mark.django_db
def test_the_sixth_failed_sign_in_for_an_account_is_refused_even_with_the_password() -> None:
    email = f"throttle-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    for attempt in range(5):
        page = login(Client(), email, "wrong-password", ip=f"198.51.100.{attempt}")
        assert "The email address and/or password you specified are not correct." in page
    page = login(Client(), email, PASSWORD, ip="198.51.100.9")
    assert REFUSED in page
    # Another account from the same addresses is not affected.
    other = f"other-{uuid.uuid4().hex[:8]}@example.com"
    make_user(other)
    response = Client().post(
        reverse("account_login"), {"login": other, "password": PASSWORD}, REMOTE_ADDR="198.51.100.9"
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_fourth_password_reset_email_in_15_minutes_is_refused() -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    for _ in range(3):
        response = Client().post(reverse("account_reset_password"), {"email": email})
        assert response.status_code == 302
    assert len(mail.outbox) == 3
    refused = Client().post(reverse("account_reset_password"), {"email": email})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert "Wait 15 minutes, then try again." in refused.content.decode()
    assert len(mail.outbox) == 3


@pytest.fixture
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with asgi_server(artifacts_dir / "throttling") as base:
        yield base


def test_the_count_is_shared_with_another_web_process(live_db: None, server: str) -> None:
    """Failed attempts made here (this process) and in the uvicorn server the tests start
    (another process) add up: the server refuses the sixth. (allauth counts per site and
    account: the site is the request's host, so both use the server's.)"""
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    host = urlsplit(server).netloc
    for attempt in range(3):
        page = login(Client(), email, "wrong", ip=f"203.0.113.{attempt}", host=host)
        assert "are not correct" in page
    with httpx.Client(base_url=server, timeout=10) as browser:
        for attempt in range(3):
            form = browser.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            assert token is not None
            data = {"csrfmiddlewaretoken": token[1], "login": email, "password": "wrong"}
            if attempt == 2:
                data["password"] = PASSWORD
            # uvicorn takes the client address from X-Forwarded-For on a local connection.
            answer = browser.post(
                "/accounts/login/", data=data, headers={"X-Forwarded-For": "192.0.2.50"}
            )
            expected = REFUSED if attempt == 2 else "are not correct"
            assert expected in answer.text


@pytest.mark.parametrize(
    ("rates", "words"),
    [
        ("10/m/ip,5/5m/key", "5 minutes"),
        ("3/h/key", "1 hour"),
        ("10/m/ip,20/30s/key", "30 seconds"),
        ("10/m/ip", "a few minutes"),  # no per-account limit: no figure to quote
    ],
)
def test_the_refusal_quotes_the_per_account_window_of_the_setting(rates: str, words: str) -> None:
    with override_settings(ACCOUNT_RATE_LIMITS={"login_failed": rates}):
        assert per_account_window("login_failed") == words
