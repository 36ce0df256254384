from django.apps import AppConfig


class SummariesConfig(AppConfig):
    name = "apps.summaries"
    label = "summaries"
    feature_labels = {"batch_summary": "Batch summaries"}
    # Summary jobs are about documents: they light Documents (apps/rag's link).
    nav_lights = {"summaries": "documents"}

    def ready(self) -> None:
        # Search results (apps/rag) carry each document's summary; rag sits below us and
        # must not import this app, so we register with it instead.
        from apps.rag.annotations import register_document_summaries
        from apps.summaries.selectors import summaries_of

        register_document_summaries(summaries_of)
