from __future__ import annotations

from django import forms

from apps.gateway.models import AISettings


class AISettingsForm(forms.ModelForm):  # type: ignore[type-arg]  # generic only in the stubs
    class Meta:
        model = AISettings
        fields = (
            "model_alias",
            "system_prompt",
            "temperature",
            "max_tokens",
            "cascade_enabled",
            "cache_enabled",
            "semantic_threshold",
            "rag_enabled",
            "rag_top_k",
            "monthly_budget_usd",
            "budget_action",
        )
        labels = {"model_alias": "Model", "max_tokens": "Maximum answer length (tokens)"}
        help_texts = {
            "system_prompt": "Sent before every conversation. Keep it short and specific.",
            "temperature": "0 is focused and repeatable, 2 is most varied.",
        }
        widgets = {
            "system_prompt": forms.Textarea(attrs={"rows": 6}),
            "semantic_threshold": forms.NumberInput(
                attrs={"step": "0.01", "min": "0.5", "max": "1"}
            ),
            "temperature": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "2"}),
        }

    SECTIONS = (
        ("Model", ("model_alias", "system_prompt", "temperature", "max_tokens", "cascade_enabled")),
        ("Caching", ("cache_enabled", "semantic_threshold")),
        ("Documents", ("rag_enabled", "rag_top_k")),
        ("Budget", ("monthly_budget_usd", "budget_action")),
    )

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def __init__(
        self, *args: object, allowed_aliases: tuple[str, ...] = (), **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if allowed_aliases:
            field = self.fields["model_alias"]
            field.choices = [c for c in field.choices if c[0] in allowed_aliases]  # type: ignore[attr-defined]
