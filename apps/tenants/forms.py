from __future__ import annotations

from django import forms

from apps.tenants.models import Role


class TenantForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=80)


class SecurityForm(forms.Form):
    require_mfa = forms.BooleanField(
        label="Require two-factor authentication",
        required=False,
        help_text="Members without it are asked to set up an authenticator app before "
        "they can open any page of this organisation. API keys are not affected.",
    )
    suspend_anomalous_keys = forms.BooleanField(
        label="Suspend API keys on unusual use",
        required=False,
        help_text="A key used in a sudden spike or from a new network is suspended until an "
        "admin re-enables it. Admins are alerted either way.",
    )


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


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Endpoint URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/starter"}),
        help_text="Budget alerts (50, 80 and 100% of the monthly budget) and margin alerts "
        "are POSTed here as signed JSON. Leave empty to send none.",
    )
    enabled = forms.BooleanField(label="Send alerts to this endpoint", required=False)
