"""A throw-away database (and Redis db) for a benchmark run, on the embedded stack.

``create`` drops and recreates the database as the owner role, points this process's
settings at it (runtime role, as in production), sets Django up and migrates; ``drop``
closes this process's pooled connections (the owner may not terminate the runtime's
sessions) and drops it. Each benchmark uses its own name so two never collide.
"""

from __future__ import annotations

import os

from config import stack


def owner_url(database: str) -> str:
    return stack.pg_url(stack.OWNER_ROLE, stack.OWNER_PASSWORD, database)


def create(name: str, *, redis_db: int, **env: str) -> None:
    import psycopg

    with psycopg.connect(owner_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = stack.pg_url(stack.RUNTIME_ROLE, stack.RUNTIME_PASSWORD, name)
    os.environ["DATABASE_OWNER_URL"] = owner_url(name)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["REDIS_URL"] = stack.DEFAULT_REDIS_URL.rsplit("/", 1)[0] + f"/{redis_db}"
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop(name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    for connection in connections.all():
        # django-stubs lacks the PostgreSQL backend's close_pool (Django 5.1).
        connection.close_pool()  # type: ignore[attr-defined]
    with psycopg.connect(owner_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
