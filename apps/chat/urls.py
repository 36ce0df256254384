from django.urls import path

from apps.chat import views

app_name = "chat"

urlpatterns = [
    path("t/<slug:slug>/chat/", views.index, name="index"),
    path("t/<slug:slug>/chat/new/", views.conversation_new, name="new"),
    path("t/<slug:slug>/chat/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/rename/",
        views.conversation_rename,
        name="rename",
    ),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/delete/",
        views.conversation_delete,
        name="delete",
    ),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/messages/",
        views.message_send,
        name="send",
    ),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/regenerate/",
        views.message_regenerate,
        name="regenerate",
    ),
    path("t/<slug:slug>/chat/<uuid:conversation_id>/edit/", views.message_edit, name="edit"),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/attachments/",
        views.attachment_list,
        name="attachments",
    ),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/attachments/<uuid:document_id>/",
        views.attachment,
        name="attachment",
    ),
    path(
        "t/<slug:slug>/chat/<uuid:conversation_id>/attachments/<uuid:document_id>/delete/",
        views.attachment_delete,
        name="attachment_delete",
    ),
    path(
        "t/<slug:slug>/chat/messages/<uuid:message_id>/events/", views.message_events, name="events"
    ),
    path("t/<slug:slug>/chat/messages/<uuid:message_id>/stop/", views.message_stop, name="stop"),
    path(
        "t/<slug:slug>/chat/messages/<uuid:message_id>/report/",
        views.message_report,
        name="report",
    ),
    path(
        "t/<slug:slug>/chat/messages/<uuid:message_id>/feedback/",
        views.message_feedback,
        name="feedback",
    ),
    path(
        "t/<slug:slug>/chat/messages/<uuid:message_id>/feedback/delete/",
        views.message_feedback_delete,
        name="feedback_delete",
    ),
    path("t/<slug:slug>/quality/", views.quality_page, name="quality"),
]
