from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from apps.core import checks  # noqa: F401 - registers the system checks
        from apps.core.db_pool import use_idle_check
        from apps.core.metrics import celery_queue_depth, register_scrape_collector

        register_scrape_collector(celery_queue_depth)
        connection_created.connect(use_idle_check, dispatch_uid="core.use_idle_check")
