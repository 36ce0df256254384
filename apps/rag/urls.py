from django.urls import path

from apps.rag import views

app_name = "rag"

urlpatterns = [
    path("t/<slug:slug>/documents/", views.documents, name="documents"),
    path("t/<slug:slug>/documents/list/", views.document_rows, name="rows"),
    path("t/<slug:slug>/documents/<uuid:document_id>/", views.document, name="document"),
    path(
        "t/<slug:slug>/documents/<uuid:document_id>/status/",
        views.document_status,
        name="status",
    ),
    path("t/<slug:slug>/documents/<uuid:document_id>/file/", views.document_file, name="file"),
    path(
        "t/<slug:slug>/documents/<uuid:document_id>/reingest/",
        views.document_reingest,
        name="reingest",
    ),
    path(
        "t/<slug:slug>/documents/<uuid:document_id>/delete/",
        views.document_delete,
        name="delete",
    ),
]
