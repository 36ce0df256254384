"""Ledger features read as words on the pages (apps/core/features.py), and every feature
the code records has its words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from django.apps import AppConfig
from django.template import Context, Template

from apps.chat import titles
from apps.core.features import declared_labels, feature_label, feature_labels
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
    assert feature in feature_labels()
    assert "_" not in feature_label(feature)


def test_one_feature_labelled_twice_fails_naming_both() -> None:
    chat = cast(AppConfig, SimpleNamespace(feature_labels={"chat": "Chat answers"}))
    fork = cast(AppConfig, SimpleNamespace(feature_labels={"chat": "Conversations"}))
    assert declared_labels([chat]) == {"chat": "Chat answers"}
    with pytest.raises(ValueError, match="'Chat answers' and 'Conversations': keep one"):
        declared_labels([chat, fork])


def test_an_unknown_feature_reads_as_its_name_with_spaces() -> None:
    assert feature_label("voice_notes") == "Voice notes"
    assert feature_label("") == ""


def test_the_filter_escapes_and_labels() -> None:
    template = Template("{% load labels %}{{ a|feature_label }} · {{ b|feature_label }}")
    rendered = template.render(Context({"a": "rag_ingest", "b": "<b>x_y</b>"}))
    assert rendered == "Document indexing · &lt;b&gt;x y&lt;/b&gt;"


def test_a_model_name_wraps_only_after_its_provider() -> None:
    template = Template(
        "{% load wrapping %}{{ a|model_name }}|{{ b|model_name }}|{{ c|model_name }}"
    )
    rendered = template.render(Context({"a": "openai/local-embed", "b": "fast", "c": "x/<script>"}))
    assert rendered == (
        '<span class="nowrap">openai</span>/<wbr><span class="nowrap">local-embed</span>|'
        '<span class="nowrap">fast</span>|'
        '<span class="nowrap">x</span>/<wbr><span class="nowrap">&lt;script&gt;</span>'
    )
