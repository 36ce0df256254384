"""Where long names may wrap (``{% load wrapping %}``): in a narrow table column an email
address or a model name breaks between its parts, not at whatever letter reaches the edge
(``overflow-wrap: anywhere`` stays the last resort)."""

from __future__ import annotations

import re

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# After "@" and "/": demo@ | example.com, openai/ | local-fast (a browser breaks at the
# last opportunity that fits, so a break before a dot would give demo@example | .com).
_BREAKS = re.compile(r"(?<=[@/])")
_WBR = mark_safe("<wbr>")
_AFTER_PROVIDER = mark_safe("/<wbr>")


@register.filter
def breakable(value: object) -> SafeString:
    """``value`` escaped, with a line-break opportunity (``<wbr>``) between its parts."""
    parts = [part for part in _BREAKS.split(str(value)) if part]
    return format_html_join(_WBR, "{}", ((part,) for part in parts))


@register.filter
def model_name(value: object) -> SafeString:
    """A model's name that wraps only after its provider: ``openai/`` then ``local-embed``,
    never ``openai/local-`` then ``embed`` (each part kept whole, ``.nowrap``)."""
    parts = ((part,) for part in str(value or "").split("/") if part)
    return format_html_join(_AFTER_PROVIDER, '<span class="nowrap">{}</span>', parts)
