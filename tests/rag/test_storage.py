"""File names are made safe; the S3-compatible backend is chosen and configured from the
environment (checked in a fresh process: settings are read at start-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from apps.rag.storage import document_path, safe_name

PROBE = (
    "import django; django.setup();"
    "from django.core.files.storage import storages; s = storages['default'];"
    "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.region_name, s.default_acl,"
    " s.querystring_auth, s.file_overwrite, s.access_key)"
)


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("My Report (final).PDF", "My_Report_final.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("", "document"),
        ("..", "document"),
        ("a" * 300 + ".md", "a" * 117 + ".md"),
    ],
)
def test_safe_names(given: str, safe: str) -> None:
    assert safe_name(given) == safe


def test_paths_carry_the_tenant_and_the_document() -> None:
    assert document_path("t1", "d1", "../x.md") == "tenants/t1/documents/d1/x.md"


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=False,
    )


def test_s3_backend_from_environment_is_private() -> None:
    done = run_settings(
        STORAGE_BACKEND="s3",
        S3_BUCKET="docs",
        S3_ENDPOINT_URL="http://127.0.0.1:9000",
        S3_REGION="eu-west-1",
        S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        S3_SECRET_ACCESS_KEY="not-a-real-secret",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "S3Storage",
        "docs",
        "http://127.0.0.1:9000",
        "eu-west-1",
        "private",
        "True",
        "False",
        "AKIDEXAMPLE",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BACKEND=s3 needs S3_BUCKET."),
        ({"STORAGE_BACKEND": "ftp"}, "use filesystem or s3"),
    ],
)
def test_bad_storage_settings_stop_start_up(env: dict[str, str], message: str) -> None:
    done = run_settings(**env)
    assert done.returncode != 0
    assert message in done.stderr
