from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"

    def ready(self) -> None:
        from apps.billing.metrics import backlog
        from apps.core.metrics import register_scrape_collector

        register_scrape_collector(backlog)
