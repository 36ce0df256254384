from django.apps import AppConfig

from apps.core.navigation import NavItem


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    feature_labels = {"semantic_cache": "Cache lookups"}
    nav_items = (
        NavItem(
            section="ai_settings",
            label="AI settings",
            url_name="gateway:ai_settings",
            icon="includes/icons/ai-settings.svg",
            order=50,
            lights=("gateway:ai_settings", "gateway:cache_answers"),
            managers_only=True,
        ),
    )
    # The usage page of API calls sits under Usage (apps/finops, above this app).
    nav_lights = {"gateway:usage": "usage"}

    def ready(self) -> None:
        from apps.gateway import checks  # noqa: F401 - registers the deployment checks
