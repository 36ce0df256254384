"""Words for codes on pages (``{% load labels %}``)."""

from __future__ import annotations

from django import template

from apps.core.features import feature_label as _feature_label

register = template.Library()


@register.filter
def feature_label(value: object) -> str:
    """A ledger row's feature in words: ``{{ row.feature|feature_label }}``."""
    return _feature_label(str(value or ""))
