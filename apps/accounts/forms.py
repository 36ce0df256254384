from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms


class SignupForm(AllauthSignupForm):
    """allauth's signup plus the name of the user's first organisation."""

    organisation = forms.CharField(
        label="Organisation name (optional)",
        max_length=80,
        required=False,
        help_text="Your team or company. You can invite people and rename it later.",
        widget=forms.TextInput(attrs={"placeholder": "Acme Inc.", "autocomplete": "organization"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Show the organisation field after the credentials.
        self.order_fields(["email", "password1", "organisation"])
