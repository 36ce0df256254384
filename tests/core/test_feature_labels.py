"""Ledger features read as words on the pages (apps/core/features.py), and every feature
the code records has its words."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from apps.chat import titles
from apps.core.features import FEATURE_LABELS, feature_label
from apps.gateway import pipeline
from apps.rag import ingest, retrieval
from apps.summaries import jobs


@pytest.mark.parametrize(
    "feature",
    [
        "chat",
        "api_chat",
        titles.FEATURE,
        ingest.FEATURE,
        retrieval.FEATURE,
        pipeline.CACHE_FEATURE,
        jobs.FEATURE,
    ],
)
def test_every_feature_the_code_records_has_words(feature: str) -> None:
    assert feature in FEATURE_LABELS
    assert "_" not in feature_label(feature)


def test_an_unknown_feature_reads_as_its_name_with_spaces() -> None:
    assert feature_label("voice_notes") == "Voice notes"
    assert feature_label("") == ""


def test_the_filter_escapes_and_labels() -> None:
    template = Template("{% load labels %}{{ a|feature_label }} · {{ b|feature_label }}")
    rendered = template.render(Context({"a": "rag_ingest", "b": "<b>x_y</b>"}))
    assert rendered == "Document indexing · &lt;b&gt;x y&lt;/b&gt;"
