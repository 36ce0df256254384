from django.urls import path

from apps.tenants import views, webhook_views

app_name = "tenants"

urlpatterns = [
    path("organisations/new/", views.tenant_create_view, name="create"),
    path("t/<slug:slug>/", views.dashboard, name="dashboard"),
    path("t/<slug:slug>/members/", views.members, name="members"),
    path("t/<slug:slug>/members/<uuid:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "t/<slug:slug>/members/<uuid:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "t/<slug:slug>/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "t/<slug:slug>/notifications/<uuid:notification_id>/dismiss/",
        views.notification_dismiss,
        name="notification_dismiss",
    ),
    path("t/<slug:slug>/settings/", views.tenant_settings, name="settings"),
    path("t/<slug:slug>/audit/", views.audit_log, name="audit"),
    path("t/<slug:slug>/settings/webhook/", webhook_views.webhook_settings, name="webhook"),
]
