from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core.metrics import celery_queue_depth, register_scrape_collector

        register_scrape_collector(celery_queue_depth)
