"""Typed readers for environment variables.

Each helper fails loudly with ImproperlyConfigured when a value is set but cannot be
parsed, so a typo in production stops the process at start-up instead of running
with a silent default.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# libpq parameters a hosted PostgreSQL asks for in its URL (`?sslmode=require`): passed on
# to psycopg as OPTIONS. Anything else is refused rather than silently dropped.
PG_URL_PARAMETERS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "channel_binding",
        "target_session_attrs",
        "application_name",
        "options",
    }
)


def database_from_url(url: str, *, name: str) -> dict[str, object]:
    """Turn postgres://user:password@host:port/dbname?sslmode=require into a Django
    DATABASES entry; the query's libpq parameters become its OPTIONS."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// URL, got scheme {parts.scheme!r}."
        )
    db_name = parts.path.lstrip("/")
    if not db_name or not parts.username:
        raise ImproperlyConfigured(f"{name} must name a user and a database: {url!r}.")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - PG_URL_PARAMETERS)
    if unknown:
        raise ImproperlyConfigured(
            f"{name} has parameters this project does not pass on: {', '.join(unknown)}. "
            f"Use only {', '.join(sorted(PG_URL_PARAMETERS))}."
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(db_name),
        "USER": unquote(parts.username),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }
