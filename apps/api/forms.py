from __future__ import annotations

from django import forms

from apps.api.models import DEFAULT_SCOPES, Scope

SCOPE_HELP = {
    Scope.CHAT: "send chat messages",
    Scope.DOCUMENTS: "upload and manage documents",
    Scope.READ: "read the organisation's data",
}


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=80,
        help_text="Where the key will be used, e.g. “Production backend”.",
        widget=forms.TextInput(attrs={"placeholder": "Production backend", "autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, f"{scope.label}: {SCOPE_HELP[scope]}") for scope in Scope],
        initial=DEFAULT_SCOPES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
