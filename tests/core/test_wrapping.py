from __future__ import annotations

import pytest
from django.template import Context, Template


@pytest.mark.parametrize(
    ("value", "html"),
    [
        ("demo@example.com", "demo@<wbr>example.com"),
        ("openai/local-fast", "openai/<wbr>local-fast"),
        ("/", "/"),
        ("No API key (the app itself)", "No API key (the app itself)"),
        # Escaped first: markup in a name stays text, and no break lands inside an entity.
        ("<b>x</b>@a.io", "&lt;b&gt;x&lt;/<wbr>b&gt;@<wbr>a.io"),
    ],
)
def test_breakable_lets_a_name_wrap_between_its_parts(value: str, html: str) -> None:
    rendered = Template("{% load wrapping %}{{ value|breakable }}").render(
        Context({"value": value})
    )
    assert rendered == html
