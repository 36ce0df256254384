"""The e-mail page offers only the actions that can apply to the person's addresses."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User


def page_for(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("account_email"))
    assert response.status_code == 200
    return response.content.decode()


def test_one_verified_address_offers_nothing_to_make_primary_remove_or_resend(
    owner: User,
) -> None:
    EmailAddress.objects.filter(user=owner).delete()
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    page = page_for(owner)
    assert owner.email in page
    assert 'name="action_primary"' not in page
    assert 'name="action_remove"' not in page
    assert 'name="action_send"' not in page
    assert page.count('class="form-actions"') == 1  # the add form's; no empty row above it
    assert 'name="action_add"' in page  # adding another address still works


def test_one_unverified_address_can_have_its_verification_sent_again(owner: User) -> None:
    EmailAddress.objects.filter(user=owner).delete()
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=False)
    page = page_for(owner)
    assert 'name="action_send"' in page
    assert 'name="action_primary"' not in page


def test_several_addresses_offer_every_action(owner: User) -> None:
    EmailAddress.objects.filter(user=owner).delete()
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    EmailAddress.objects.create(user=owner, email="second@example.com", verified=False)
    page = page_for(owner)
    for action in ("action_primary", "action_send", "action_remove"):
        assert f'name="{action}"' in page
