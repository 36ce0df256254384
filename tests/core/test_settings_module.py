"""The suite runs on the settings module pyproject.toml names, and so do the servers it
starts: however it is started (`make test`, `.ci/run`, pytest by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from django.conf import settings
from pytest_django import Settings

from tests.servers import process_env


def pyproject_settings_module() -> str:
    pyproject = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())
    module = pyproject["tool"]["pytest"]["ini_options"]["DJANGO_SETTINGS_MODULE"]
    assert isinstance(module, str)
    return module


def test_the_tests_run_on_the_settings_module_pyproject_names() -> None:
    # pytest-django takes DJANGO_SETTINGS_MODULE from the environment before pyproject:
    # a value leaked there (as config.celery's default once did through devstack exec)
    # silently runs the suite on other settings.
    named = pyproject_settings_module()
    assert named == settings.SETTINGS_MODULE
    assert os.environ["DJANGO_SETTINGS_MODULE"] == named


def test_the_servers_the_tests_start_run_on_the_same_settings(settings: Settings) -> None:
    # Users made here with the test settings' password hasher must log in there, also
    # from a test that overrides a setting (settings.SETTINGS_MODULE is None then).
    settings.SITE_URL = "http://testserver"
    assert process_env()["DJANGO_SETTINGS_MODULE"] == pyproject_settings_module()


def _exec_shows_settings_module(env: dict[str, str]) -> str:
    show = "import os; print(os.environ.get('DJANGO_SETTINGS_MODULE'))"
    result = subprocess.run(
        [sys.executable, "-m", "apps.core.devstack", "exec", "--", sys.executable, "-c", show],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()[-1]


def test_devstack_exec_passes_on_the_callers_settings_module_only() -> None:
    # devstack imports config (its Celery app sets a default); the command must not get it.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    assert _exec_shows_settings_module(env) == "None"
    given = {**env, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    assert _exec_shows_settings_module(given) == "config.settings_test"
