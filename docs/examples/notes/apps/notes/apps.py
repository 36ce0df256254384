from django.apps import AppConfig

from apps.api.scopes import ApiScope
from apps.core.navigation import NavItem

# The API scope that lets a key add notes (reading takes ``read`` or this one).
NOTES = ApiScope(name="notes", label="Notes", help="add notes")


class NotesConfig(AppConfig):
    name = "apps.notes"
    default_auto_field = "django.db.models.BigAutoField"
    api_scopes = (NOTES,)
    # Its link in the sidebar, after Documents (30); every page of the app lights it.
    nav_items = (
        NavItem(
            section="notes",
            label="Notes",
            url_name="notes:notes",
            icon="includes/icons/notes.svg",
            order=35,
            lights=("notes",),
        ),
    )
