"""`manage.py makemigrations` whose new migrations pass `make lint` as written.

Django formats the files it writes with black when black is installed; the project's
style is ruff's, so the new migrations, merge migrations (``--merge``) included, go
through ruff (apps/core/formatting.py)."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from django.core.management.commands.makemigrations import Command as DjangoMakemigrations
from django.db.migrations.loader import MigrationLoader

from apps.core.formatting import format_python


class Command(DjangoMakemigrations):
    def write_migration_files(self, changes: Any, *args: Any, **kwargs: Any) -> None:
        super().write_migration_files(changes, *args, **kwargs)
        if not self.dry_run:
            format_python(self.written_files)  # type: ignore[attr-defined]  # set by handle()

    def handle_merge(self, loader: MigrationLoader, conflicts: dict[str, Any]) -> None:
        # Django writes a merge migration without recording its path: the new files in the
        # conflicting apps' migration folders are the ones it wrote.
        folders = [folder for label in conflicts if (folder := migrations_folder(loader, label))]
        before = {path for folder in folders for path in folder.glob("*.py")}
        super().handle_merge(loader, conflicts)
        if not self.dry_run:
            after = {path for folder in folders for path in folder.glob("*.py")}
            format_python(sorted(str(path) for path in after - before))


def migrations_folder(loader: MigrationLoader, app_label: str) -> Path | None:
    """The folder of ``app_label``'s migrations package (MIGRATION_MODULES honoured)."""
    module_name, _ = loader.migrations_module(app_label)
    module_file = import_module(module_name).__file__ if module_name else None
    return Path(module_file).parent if module_file else None
