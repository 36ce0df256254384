"""The sign-up glue between allauth and organisations (``ACCOUNT_ADAPTER``).

It lives in tenants, not accounts: accounts knows people only; an organisation is made
for a new person here, unless they are signing up to accept an invitation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.mail import EmailMessage
from django.http import HttpRequest

from apps.accounts.models import User
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create

PENDING_INVITATION_SESSION_KEY = "pending_invitation"

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def per_account_window(action: str) -> str:
    """How long ``ACCOUNT_RATE_LIMITS[action]``'s per-account ("key") limit lasts, in
    words ("5 minutes"), so the refusal says what the setting says."""
    rates = settings.ACCOUNT_RATE_LIMITS.get(action) or ""
    found = re.search(r"(?:^|,)\s*\d+/(\d*)([smhd])/key\b", rates)
    if found is None:
        return "a few minutes"
    amount, unit = int(found.group(1) or 1), _UNITS[found.group(2)]
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


# Sign-up's organisation when the person leaves its name blank: "Jean-Luc Picard's
# organisation" from jean-luc.picard+work@…; "My organisation" when the address has no
# word to show (digits or symbols only).
_FALLBACK_ORGANISATION = "My organisation"
_OWNED = "'s organisation"
# What separates words in an address's local part: ASCII punctuation (every other
# character, in any script, belongs to a word; hyphens and apostrophes join its parts).
_WORD_BREAK = re.compile(r"[\s.!#$%&*/=?^_`{|}~\"]+")
_PART_BREAK = re.compile(r"([-'])")
_EDGE_DIGITS = re.compile(r"^\d+|\d+$")


def default_organisation_name(email: str) -> str:
    """A name a person would keep, from the address's local part: its sub-address (+tag)
    and the digits after or before a word dropped, dots and underscores read as spaces, each
    word and each part of a hyphenated one capitalised, in any script (Jean-Luc, O'Brien,
    Иван, 李雷)."""
    local = email.rpartition("@")[0].split("+", 1)[0]
    words = []
    for word in _WORD_BREAK.split(local):
        # smith2 reads as Smith, but r2d2 stays whole.
        trimmed = _EDGE_DIGITS.sub("", word)
        word = word if any(ch.isdigit() for ch in trimmed) else trimmed
        if any(ch.isalpha() for ch in word):
            words.append("".join(part[:1].title() + part[1:] for part in _PART_BREAK.split(word)))
    if not words:
        return _FALLBACK_ORGANISATION
    room = cast(int, Tenant._meta.get_field("name").max_length) - len(_OWNED)
    name = words[0][:room]
    for word in words[1:]:
        if len(name) + 1 + len(word) > room:
            break
        name = f"{name} {word}"
    return name + _OWNED


@dataclass(frozen=True)
class ProductSite:
    """What allauth's emails read as ``current_site`` ("Hello from {{ name }}!"): the
    product's name and address, not the host name of the request that sent them."""

    name: str
    domain: str


def product_site() -> ProductSite:
    return ProductSite(name=settings.PRODUCT_NAME, domain=urlsplit(settings.SITE_URL).netloc)


class AccountAdapter(DefaultAccountAdapter):
    # Throttled sign-in (ACCOUNT_RATE_LIMITS, docs/security.md): say how long and what else to do.
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": (
            f"Too many failed sign-in attempts for this account. Wait "
            f"{per_account_window('login_failed')} and try again, or use “Forgot your password?”."
        ),
    }

    def format_email_subject(self, subject: str) -> str:
        return f"[{settings.PRODUCT_NAME}] {subject}"

    def render_mail(
        self,
        template_prefix: str,
        email: str | list[str],
        context: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> EmailMessage:
        context = {**context, "current_site": product_site()}
        return cast(EmailMessage, super().render_mail(template_prefix, email, context, headers))

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> User:
        """Create the user and, unless they are signing up to accept an invitation,
        their first organisation, with them as its owner."""
        saved = cast(User, super().save_user(request, user, form, commit=commit))
        if commit and not request.session.get(PENDING_INVITATION_SESSION_KEY):
            name = (form.cleaned_data.get("organisation") or "").strip()
            tenant_create(owner=saved, name=name or default_organisation_name(saved.email))
        return saved
