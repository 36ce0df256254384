from django.urls import path

from apps.api import views

app_name = "api"

urlpatterns = [
    path("t/<slug:slug>/api-keys/", views.api_keys, name="keys"),
    path("t/<slug:slug>/api-keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="key_revoke"),
    path("t/<slug:slug>/api-keys/<uuid:key_id>/rotate/", views.api_key_rotate, name="key_rotate"),
    path(
        "t/<slug:slug>/api-keys/<uuid:key_id>/reenable/",
        views.api_key_reenable,
        name="key_reenable",
    ),
]
