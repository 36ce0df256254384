from __future__ import annotations

from typing import Any

from django import forms

from apps.gateway.models import AISettings
from apps.guardrails.policy import (
    ALLOWED,
    LABELS,
    Action,
    Check,
    InjectionWait,
    PassageMode,
    Policy,
    PolicyError,
    action_not_allowed,
)

ACTION_LABELS = {
    Action.OFF: "Off",
    Action.LOG: "Log only",
    Action.FLAG: "Log and flag to the user",
    Action.REDACT: "Redact (replace with a placeholder)",
    Action.BLOCK: "Block",
}
GUARD_HELP = {
    Check.PROMPT_INJECTION: "Messages that try to override the assistant's instructions. "
    "Can be logged, flagged or blocked (not redacted: the intent is in the whole message).",
    Check.PII: "Checked in questions and answers. Redact replaces the value before the AI "
    "provider and the cache see it.",
    Check.SECRETS: "API keys, private keys, tokens, passwords in connection strings. Redact "
    "keeps them from the provider and the cache.",
    Check.MODERATION: "Requests for serious harm (built-in list, or your moderation backend).",
    Check.CANARY: "A secret marker in the system prompt: an answer that repeats it is "
    "stopped. Log or block only.",
}


MAX_PROMPTS = 6
MAX_PROMPT_CHARS = 120


def parse_prompts(text: str) -> list[str]:
    """Suggested prompts from a textarea: one per non-empty line, spaces collapsed.
    Raises ValidationError naming the line to fix."""
    prompts = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    errors = []
    if len(prompts) > MAX_PROMPTS:
        errors.append(
            f"{len(prompts)} prompts: keep at most {MAX_PROMPTS} (one per line); "
            "an empty chat has room for a few."
        )
    for number, prompt in enumerate(prompts, 1):
        if len(prompt) > MAX_PROMPT_CHARS:
            errors.append(
                f"Prompt {number} is {len(prompt)} characters long; shorten it to "
                f"{MAX_PROMPT_CHARS} or fewer."
            )
    duplicates = sorted({p for p in prompts if prompts.count(p) > 1})
    if duplicates:
        errors.append(f"“{duplicates[0]}” is listed twice: keep it once.")
    if errors:
        raise forms.ValidationError(errors)
    return prompts


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
            "suggested_prompts",
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

    GUARD_FIELDS = tuple(f"guard_{check.value}" for check in Check)
    SECTIONS = (
        ("Model", ("model_alias", "system_prompt", "temperature", "max_tokens", "cascade_enabled")),
        ("Caching", ("cache_enabled", "semantic_threshold")),
        ("Documents", ("rag_enabled", "rag_top_k")),
        ("Budget", ("monthly_budget_usd", "budget_action")),
        ("Chat", ("suggested_prompts",)),
        (
            "Guardrails",
            (
                "guard_prompt_injection",
                "guard_injection_wait",  # beside the action it applies to
                *(name for name in GUARD_FIELDS if name != "guard_prompt_injection"),
                "guard_fail_closed",
                "guard_passages",
            ),
        ),
    )

    guard_injection_wait = forms.ChoiceField(
        label="When prompt injection is blocked",
        choices=[
            (InjectionWait.IN_LINE.value, "In line: checked before it is sent"),
            (InjectionWait.HELD.value, "Held: sent at once, answer held"),
        ],
        help_text="Held answers sooner: the message goes to the AI provider before the "
        "verdict, and no part of the answer is shown until the verdict allows it. A message "
        "blocked that way has still reached the provider and may still cost its prompt "
        "tokens. Used only when prompt injection is set to Block.",
        required=False,  # absent: the current setting stays
    )
    guard_fail_closed = forms.BooleanField(
        label="Refuse messages when a check cannot run",
        required=False,
        help_text="When a moderation backend is down or slow, or a message is too long to "
        "check. Off: such messages go through and the event is logged.",
    )
    guard_passages = forms.ChoiceField(
        label="Document passages that contain instructions",
        choices=[
            (PassageMode.QUOTE.value, "Quote them as data, clearly delimited"),
            (PassageMode.OMIT.value, "Leave them out of the prompt"),
        ],
        help_text="Passages are checked at upload and again when retrieved.",
        required=False,  # absent: the current setting stays
    )

    suggested_prompts = forms.CharField(
        label="Suggested prompts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=f"Shown on an empty chat, one per line, at most {MAX_PROMPTS} of up to "
        f"{MAX_PROMPT_CHARS} characters. Leave empty for the defaults.",
    )

    def clean_suggested_prompts(self) -> list[str]:
        return parse_prompts(self.cleaned_data.get("suggested_prompts") or "")

    # Side by side on wide screens (left, then right on narrow ones): what the answer is,
    # then what it may cost and what it may contain.
    COLUMNS = (("Model", "Chat", "Documents"), ("Caching", "Budget", "Guardrails"))

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def columns(self) -> list[list[tuple[str, list[forms.BoundField]]]]:
        by_title = dict(self.sections())
        return [[(title, by_title[title]) for title in column] for column in self.COLUMNS]

    def __init__(
        self, *args: object, allowed_aliases: tuple[str, ...] = (), **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        try:
            policy = Policy.parse(self.instance.guardrails)
        except PolicyError:
            policy = Policy()
        for check in Check:
            # Every action is accepted by the field, so a value that does not fit the
            # check gets a message that says why (clean_guard), not "invalid choice".
            guard = forms.ChoiceField(
                label=LABELS[check],
                choices=[(a.value, ACTION_LABELS[a]) for a in Action],
                required=False,  # absent: the current action stays
                initial=policy.action(check).value,
                help_text=GUARD_HELP[check],
            )
            guard.widget.choices = [(a.value, ACTION_LABELS[a]) for a in ALLOWED[check]]
            self.fields[f"guard_{check.value}"] = guard
        self._policy = policy
        if not self.is_bound:
            self.initial["suggested_prompts"] = "\n".join(self.instance.suggested_prompts or [])
        self.fields["guard_fail_closed"].initial = policy.fail_closed
        self.fields["guard_passages"].initial = policy.passages.value
        self.fields["guard_injection_wait"].initial = policy.injection_wait.value
        if allowed_aliases:
            field = self.fields["model_alias"]
            field.choices = [c for c in field.choices if c[0] in allowed_aliases]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        actions = {}
        for check in Check:
            name = f"guard_{check.value}"
            value = cleaned.get(name) or self._policy.action(check).value
            if Action(value) not in ALLOWED[check]:
                self.add_error(name, action_not_allowed(check, Action(value)))
                continue
            actions[check.value] = value
        if not self.errors:
            data = {
                "actions": actions,
                "fail_closed": bool(cleaned.get("guard_fail_closed")),
                "passages": cleaned.get("guard_passages") or self._policy.passages.value,
                "injection_wait": cleaned.get("guard_injection_wait")
                or self._policy.injection_wait.value,
            }
            try:
                policy = Policy.parse(data)
            except PolicyError as exc:
                self.add_error(None, str(exc))
            else:
                # Unchanged: keep the stored value, so saving the page audits no change.
                unchanged = policy == self._policy
                cleaned["guardrails"] = self.instance.guardrails if unchanged else policy.to_dict()
        return cleaned

    def changes(self) -> dict[str, Any]:
        """The validated values of the model's fields, the guardrail policy included."""
        out = {name: self.cleaned_data[name] for name in self.Meta.fields}
        out["guardrails"] = self.cleaned_data["guardrails"]
        return out
