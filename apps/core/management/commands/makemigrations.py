"""`manage.py makemigrations` whose new migrations pass `make lint` as written.

Django formats the files it writes with black when black is installed; the project's
style is ruff's, so the new migrations go through ruff (apps/core/formatting.py). A merge
migration (``--merge``) is left as Django writes it: `make format` tidies it."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.makemigrations import Command as DjangoMakemigrations

from apps.core.formatting import format_python


class Command(DjangoMakemigrations):
    def write_migration_files(self, changes: Any, *args: Any, **kwargs: Any) -> None:
        super().write_migration_files(changes, *args, **kwargs)
        if not self.dry_run:
            format_python(self.written_files)  # type: ignore[attr-defined]  # set by handle()
