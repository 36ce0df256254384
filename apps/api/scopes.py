"""What an API key may do: its scopes, declared by the apps whose endpoints check them.

Each app lists the scopes it adds in its ``AppConfig`` (``api_scopes = (ApiScope(...),)``);
this app declares the project's own three. The key form offers every declared scope, and
creating a key, ``require_scope`` and ``create_api_key`` accept only declared ones, so an
app added to a fork brings its scope without editing this app. A key's scopes are stored
as their names (``ApiKey.scopes``), in the order the apps declare them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.apps import AppConfig

from apps.core.declarations import collected, twice


class Scope(StrEnum):
    """The project's own scopes, as names for its code to check."""

    CHAT = "chat"
    DOCUMENTS = "documents"
    READ = "read"


@dataclass(frozen=True, kw_only=True)
class ApiScope:
    """``name`` is stored on keys and checked; the form shows "``label``: ``help``"."""

    name: str
    label: str
    help: str


BUILT_IN = (
    ApiScope(name=Scope.CHAT, label="Chat", help="send chat messages"),
    ApiScope(name=Scope.DOCUMENTS, label="Documents", help="upload and manage documents"),
    ApiScope(name=Scope.READ, label="Read", help="read the organisation's data"),
)

DEFAULT_SCOPES = [Scope.CHAT.value, Scope.READ.value]


def declared_scopes(configs: Iterable[AppConfig] | None = None) -> tuple[ApiScope, ...]:
    """Every app's ``api_scopes`` in app order; a name declared twice fails, naming it."""
    found: list[ApiScope] = collected("api_scopes", configs)
    again = twice(scope.name for scope in found)
    if again:
        raise ValueError(f"The API scope {', '.join(again)} is declared twice: rename one.")
    return tuple(found)


@functools.cache
def api_scopes() -> tuple[ApiScope, ...]:
    """The installed apps' scopes, read once (the app registry does not change)."""
    return declared_scopes()


def scope_names() -> list[str]:
    return [scope.name for scope in api_scopes()]


def scope_choices() -> list[tuple[str, str]]:
    """The key form's choices: each scope as "Label: what it allows"."""
    return [(scope.name, f"{scope.label}: {scope.help}") for scope in api_scopes()]
