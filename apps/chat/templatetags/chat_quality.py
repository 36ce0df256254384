"""``{% rate value tone %}``: a quality signal as a percentage with a small bar
(templates/chat/_quality_signals.html). ``value`` is a fraction of 1 or None (nothing to
divide by: a dash); ``tone`` colours the bar: "good" (higher is better), "bad" (lower is
better) or "" (neither)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
NOTHING = mark_safe('<span class="quality-rate"><span class="muted">—</span></span>')


@register.simple_tag
def rate(value: float | None, tone: str = "") -> SafeString:
    if value is None:
        return NOTHING
    percent = round(value * 100, 1)
    shown = f"{percent:.0f}%" if percent in (0, 100) else f"{percent:.1f}%"
    return format_html(
        '<span class="quality-rate"><span class="quality-value">{}</span>'
        '<span class="quality-bar {}" aria-hidden="true"><span data-width="{}"></span></span>'
        "</span>",
        shown,
        tone,
        percent,
    )
