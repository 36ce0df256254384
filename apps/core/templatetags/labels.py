"""Words for codes on pages (``{% load labels %}``)."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.core.features import feature_label as _feature_label

register = template.Library()


@register.filter
def feature_label(value: object) -> str:
    """A ledger row's feature in words: ``{{ row.feature|feature_label }}``."""
    return _feature_label(str(value or ""))


@register.filter
def model_name(value: object) -> SafeString:
    """A model's name that wraps only after its provider: ``openai/`` then ``local-embed``,
    never ``openai/local-`` then ``embed`` (``{{ row.served_model|model_name }}``)."""
    parts = str(value or "").split("/")
    return mark_safe(  # noqa: S308 - every part is escaped
        "/<wbr>".join(f'<span class="nowrap">{escape(part)}</span>' for part in parts if part)
    )
