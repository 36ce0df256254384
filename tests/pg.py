"""Direct PostgreSQL connections for test set-up, outside Django's connection handling."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from django.conf import settings
from psycopg.rows import TupleRow


def connect(
    database: Mapping[str, object], dbname: str, *, autocommit: bool = True
) -> psycopg.Connection[TupleRow]:
    """A connection to ``dbname`` with the credentials of a Django ``database`` entry
    (``database_from_url`` gives every field as a str, typed as object)."""
    return psycopg.connect(
        host=str(database["HOST"]),
        port=str(database["PORT"]) or None,
        user=str(database["USER"]),
        password=str(database["PASSWORD"]),
        dbname=dbname,
        autocommit=autocommit,
    )


def owner_connect(dbname: str) -> psycopg.Connection[TupleRow]:
    """As the owner role, which creates and drops databases (docs/tenancy.md)."""
    return connect(settings.DATABASE_OWNER, dbname)
