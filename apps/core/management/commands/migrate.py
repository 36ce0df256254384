"""`manage.py migrate`, run as the owner role.

The web and worker processes connect as the runtime role, which must own nothing
(otherwise it could switch row-level security off). So the schema is created by the
owner role from DATABASE_OWNER_URL: this command swaps the credentials of the
connection for the length of the migration, keeping the database name (tests
migrate a test database under the same credentials).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections


def _close_pool(connection: Any) -> None:
    close_pool = getattr(connection, "close_pool", None)  # PostgreSQL with DATABASE_POOL
    if close_pool is not None:
        close_pool()


@contextmanager
def owner_connection(alias: str = "default") -> Iterator[None]:
    connection = connections[alias]
    saved = dict(connection.settings_dict)
    # A pool holds connections made with the old credentials: close it on both sides
    # of the swap, or the runtime role would later be handed an owner connection.
    connection.close()
    _close_pool(connection)
    connection.settings_dict.update(
        {key: settings.DATABASE_OWNER[key] for key in ("USER", "PASSWORD", "HOST", "PORT")}
    )
    try:
        yield
    finally:
        connection.close()
        _close_pool(connection)
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


class Command(DjangoMigrateCommand):
    help = "Apply migrations as the owner role (DATABASE_OWNER_URL)."

    def handle(self, *args: Any, **options: Any) -> None:
        with owner_connection(options["database"]):
            super().handle(*args, **options)
