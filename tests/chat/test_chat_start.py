"""The empty chat screen's composer: a question typed there starts a conversation and
is sent on arrival, once; a suggested prompt only fills the composer."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.chat.models import Conversation, Message, MessageRole
from apps.core.db import tenant_context
from apps.tenants.models import Tenant


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_empty_screen_has_a_composer_that_starts_a_chat(owner: User, tenant: Tenant) -> None:
    html = signed_in(owner).get(reverse("chat:index", args=[tenant.slug])).content.decode()
    start = reverse("chat:new", args=[tenant.slug])
    assert f'<form class="composer" id="start-composer" method="post" action="{start}">' in html
    assert '<input type="hidden" name="send" value="1">' in html
    assert '<label for="start-input" class="sr-only">Message</label>' in html


def test_a_typed_question_is_sent_on_arrival_once(owner: User, tenant: Tenant) -> None:
    client = signed_in(owner)
    response = client.post(
        reverse("chat:new", args=[tenant.slug]),
        {"prompt": " What is our refund policy? ", "send": "1"},
    )
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert parse_qs(url.query) == {"prompt": ["What is our refund policy?"], "send": ["1"]}
    page = client.get(f"{url.path}?{url.query}").content.decode()
    assert "data-autosend" in page
    assert ">What is our refund policy?</textarea>" in page
    # Once the question is in the conversation, the same address sends nothing again.
    with tenant_context(tenant.id):
        conversation = Conversation.objects.get(id=url.path.rstrip("/").split("/")[-1])
        Message.objects.create(
            tenant=tenant, conversation=conversation, role=MessageRole.USER, content="Asked."
        )
    assert "data-autosend" not in client.get(f"{url.path}?{url.query}").content.decode()


def test_a_suggested_prompt_only_fills_the_composer(owner: User, tenant: Tenant) -> None:
    client = signed_in(owner)
    response = client.post(reverse("chat:new", args=[tenant.slug]), {"prompt": "Draft a reply"})
    url = urlsplit(response["Location"])
    assert parse_qs(url.query) == {"prompt": ["Draft a reply"]}
    page = client.get(f"{url.path}?{url.query}").content.decode()
    assert "data-autosend" not in page
    assert ">Draft a reply</textarea>" in page
