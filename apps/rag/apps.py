from django.apps import AppConfig

from apps.core.navigation import NavItem


class RagConfig(AppConfig):
    name = "apps.rag"
    label = "rag"
    feature_labels = {"rag_ingest": "Document indexing", "rag_search": "Document search"}
    nav_items = (
        NavItem(
            section="documents",
            label="Documents",
            url_name="rag:documents",
            icon="includes/icons/documents.svg",
            order=30,
            lights=("rag",),
        ),
    )
