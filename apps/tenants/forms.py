from __future__ import annotations

from django import forms

from apps.tenants.models import Role


class TenantForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=80)


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"placeholder": "teammate@company.com"}),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: object, can_invite_owner: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not can_invite_owner:
            role = self.fields["role"]
            assert isinstance(role, forms.ChoiceField)  # noqa: S101 - narrows the type
            role.choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
