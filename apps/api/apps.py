from django.apps import AppConfig

from apps.api.scopes import BUILT_IN
from apps.core.navigation import NavItem


class ApiConfig(AppConfig):
    name = "apps.api"
    label = "api"
    api_scopes = BUILT_IN
    feature_labels = {"api_chat": "API chat completions"}
    nav_items = (
        NavItem(
            section="api_keys",
            label="API keys",
            url_name="api:keys",
            icon="includes/icons/api-keys.svg",
            order=90,
            lights=("api:keys", "api:key_rotate"),
            managers_only=True,
        ),
    )
