"""docker-compose.yml and the Dockerfile run commands that exist, with the settings a
real deployment needs passed through, and keep a fork's secrets out of git and the image.
Read as text (no container runs here): what `docker compose up` would start."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()
APP_SERVICES = ("migrate", "web", "worker", "beat")

# What a deployment sets beyond the database and Redis (the compose file wires those):
# without a provider key the gateway calls the local development provider, which does not
# run in these containers; without email settings no sign-up can be confirmed.
PASSED_THROUGH = {
    "PRODUCT_NAME",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "OPENAI_COMPATIBLE_BASE_URL",
    "OPENAI_COMPATIBLE_API_KEY",
    "OPENAI_COMPATIBLE_MODELS",
    "EMBEDDING_DIM",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STORAGE_BACKEND",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_ADDRESSING_STYLE",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
}
# Variables only the compose file reads (the database's passwords).
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "RUNTIME_DB_PASSWORD"}


def app_environment(service: str) -> dict[str, str]:
    env = COMPOSE["services"][service]["environment"]
    assert isinstance(env, dict)
    return env


def test_every_app_container_gets_the_settings_a_deployment_needs() -> None:
    for service in APP_SERVICES:
        missing = PASSED_THROUGH - set(app_environment(service))
        assert missing == set(), f"{service} lacks {sorted(missing)}"


def test_web_and_worker_share_the_uploaded_files() -> None:
    # web stores an upload, a worker ingests it: with files on disk, one volume for both.
    media_root = app_environment("web")["MEDIA_ROOT"]
    for service in ("web", "worker"):
        assert app_environment(service)["MEDIA_ROOT"] == media_root
        assert f"media:{media_root}" in COMPOSE["services"][service]["volumes"], service
    assert "media" in COMPOSE["volumes"]
    assert f"mkdir -p {media_root} && chown app:app {media_root}" in DOCKERFILE


def test_every_variable_the_compose_file_reads_is_in_the_readme() -> None:
    read = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert read >= PASSED_THROUGH
    undocumented = sorted(name for name in read - COMPOSE_ONLY if f"`{name}`" not in README)
    assert undocumented == []


def test_the_commands_name_modules_that_exist() -> None:
    commands = [COMPOSE["services"][s]["command"] for s in APP_SERVICES]
    commands.append(re.findall(r'"([^"]+)"', DOCKERFILE.split("CMD", 1)[1]))
    for command in commands:
        assert command[:2] in (["python", "-m"], ["python", "manage.py"]), command
        if command[1] == "manage.py":
            assert (ROOT / "manage.py").exists()
            assert command[2] == "migrate"
            continue
        tool, args = command[2], command[3:]
        importlib.import_module(tool)
        if tool == "uvicorn":
            module, _, attribute = args[0].partition(":")
            assert hasattr(importlib.import_module(module), attribute), args[0]
        if tool == "celery":
            app = args[args.index("-A") + 1]
            assert hasattr(importlib.import_module(f"{app}.celery"), "app"), app


def test_the_files_the_dockerfile_copies_exist() -> None:
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, flags=re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source
    assert (ROOT / "docker" / "initdb" / "10-roles.sh").exists()


def test_a_local_env_file_stays_out_of_git_and_the_image() -> None:
    # `docker compose` reads .env for the ${...} above: it holds the secrets.
    for ignore in (".gitignore", ".dockerignore"):
        lines = (ROOT / ignore).read_text().splitlines()
        assert ".env" in lines, ignore
