from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from apps.api.scopes import DEFAULT_SCOPES, scope_choices


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=80,
        help_text="Where the key will be used, e.g. “Production backend”.",
        widget=forms.TextInput(attrs={"placeholder": "Production backend", "autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        initial=DEFAULT_SCOPES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )


class RotateForm(forms.Form):
    """How long the old secret keeps working after a rotation."""

    OVERLAP_CHOICES = [(0, "Stop at once"), (1, "1 hour"), (24, "24 hours"), (168, "7 days")]

    overlap_hours = forms.TypedChoiceField(
        label="The old secret keeps working for",
        coerce=int,
        help_text="Long enough to put the new secret in every client that uses this key.",
        error_messages={"invalid_choice": "Choose one of the overlaps offered."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["overlap_hours"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101 - narrows the type
        field.choices = self.choices()

    @staticmethod
    def default_overlap() -> int:
        return int(settings.API_KEY_ROTATION_OVERLAP_HOURS)

    @classmethod
    def choices(cls) -> list[tuple[int, str]]:
        """The overlaps offered, the configured default among them and marked."""
        default = cls.default_overlap()
        offered = dict(cls.OVERLAP_CHOICES)
        offered.setdefault(default, f"{default} hours")
        offered[default] += " (default)"
        return sorted(offered.items())
