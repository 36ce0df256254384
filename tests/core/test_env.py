"""A hosted PostgreSQL's URL keeps its libpq parameters (``?sslmode=require``) instead of
losing them silently, and a parameter that would be lost stops start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url


def test_the_urls_parameters_become_options() -> None:
    url = "postgres://app:p%40ss@db.example.com:6543/prod?sslmode=verify-full&sslrootcert=/ca.pem"
    assert database_from_url(url, name="DATABASE_URL") == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "prod",
        "USER": "app",
        "PASSWORD": "p@ss",
        "HOST": "db.example.com",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "verify-full", "sslrootcert": "/ca.pem"},
    }
    assert database_from_url("postgres://u@h/db", name="X")["OPTIONS"] == {}


def test_an_unknown_parameter_stops_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL has parameters .*: pgbouncer"):
        database_from_url("postgres://u:p@h/db?pgbouncer=true", name="DATABASE_URL")


def test_the_settings_pass_them_on_beside_the_pool() -> None:
    url = "postgres://app_runtime:x@db.example.com:5432/app?sslmode=require"
    show = (
        "import json, config.settings as s; "
        "print(json.dumps(s.DATABASES['default']['OPTIONS'], default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", show],
        env={**os.environ, "DATABASE_URL": url, "DATABASE_POOL": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.splitlines()[-1])
    assert options["sslmode"] == "require"
    assert options["connect_timeout"] == 5
    assert "pool" in options
