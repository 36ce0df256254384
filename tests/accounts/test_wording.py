"""allauth's pages speak like the project's own: sentence case ("Sign in"), from the
catalogue in locale/en_GB, whose compiled .mo must carry every string of its .po."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

PO = Path(settings.BASE_DIR) / "locale" / "en_GB" / "LC_MESSAGES" / "django.po"


def test_the_compiled_catalogue_has_every_string_of_the_po() -> None:
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', PO.read_text(), re.M)
    assert len(pairs) >= 20
    with translation.override(settings.LANGUAGE_CODE):
        assert {msgid: translation.gettext(msgid) for msgid, _ in pairs} == dict(pairs)


def test_sign_in_and_sign_up_are_in_sentence_case(db: None) -> None:
    for name, heading in (("account_login", "Sign in"), ("account_signup", "Sign up")):
        html = Client().get(reverse(name)).content.decode()
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        assert title is not None
        assert " ".join(title[1].split()) == f"{heading} · Starter"
        assert re.search(rf"<h1[^>]*>\s*{heading}\s*</h1>", html)
        assert "Sign In" not in html
        assert "Sign Up" not in html
