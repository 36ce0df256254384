from django.apps import AppConfig

from apps.core.navigation import NavItem


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"
    nav_items = (
        NavItem(
            section="billing",
            label="Billing",
            url_name="billing:billing",
            icon="includes/icons/billing.svg",
            order=80,
            lights=("billing",),
            managers_only=True,
        ),
    )

    def ready(self) -> None:
        from apps.billing.metrics import backlog
        from apps.core.metrics import register_scrape_collector

        register_scrape_collector(backlog)
