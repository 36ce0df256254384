"""`manage.py check --deploy` says when an alias would fall back to the local
development provider, which no production stack runs."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from pytest_django import Settings

from apps.gateway.checks import local_provider_serves_nothing


def test_no_provider_key_is_reported_for_every_alias(settings: Settings) -> None:
    settings.GATEWAY_DEPLOYMENTS = None
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_COMPATIBLE_BASE_URL = ""
    settings.MISTRAL_API_KEY = ""
    [warning] = local_provider_serves_nothing(None)
    assert warning.id == "gateway.W001"
    assert "'embed', 'fast', 'smart'" in warning.msg


def test_a_provider_without_embeddings_leaves_embed_reported(settings: Settings) -> None:
    settings.GATEWAY_DEPLOYMENTS = None
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_COMPATIBLE_BASE_URL = "https://llm.example/v1"
    settings.OPENAI_COMPATIBLE_MODELS = ["small", "large"]
    [warning] = local_provider_serves_nothing(None)
    assert "'embed'" in warning.msg
    assert "'fast'" not in warning.msg
    settings.OPENAI_COMPATIBLE_MODELS = ["small", "large", "embedder"]
    assert local_provider_serves_nothing(None) == []


def test_it_is_a_deploy_check(settings: Settings) -> None:
    settings.GATEWAY_DEPLOYMENTS = None
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_COMPATIBLE_BASE_URL = ""
    call_command("check", "--fail-level", "WARNING")  # not without --deploy
    with pytest.raises(SystemCheckError, match=r"gateway\.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING")
