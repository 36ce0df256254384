from __future__ import annotations

from django import forms

from apps.gateway.models import AISettings


class AISettingsForm(forms.ModelForm):
    class Meta:
        model = AISettings
        fields = ("model_alias", "system_prompt", "temperature", "max_tokens")
        labels = {"model_alias": "Model", "max_tokens": "Maximum answer length (tokens)"}
        help_texts = {
            "system_prompt": "Sent before every conversation. Keep it short and specific.",
            "temperature": "0 is focused and repeatable, 2 is most varied.",
        }
        widgets = {"system_prompt": forms.Textarea(attrs={"rows": 6})}

    def __init__(
        self, *args: object, allowed_aliases: tuple[str, ...] = (), **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if allowed_aliases:
            field = self.fields["model_alias"]
            field.choices = [c for c in field.choices if c[0] in allowed_aliases]  # type: ignore[attr-defined]
