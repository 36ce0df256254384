from django.urls import path

from apps.gateway import views

app_name = "gateway"

urlpatterns = [
    path("t/<slug:slug>/settings/ai/", views.ai_settings, name="ai_settings"),
    path("t/<slug:slug>/usage/", views.usage, name="usage"),
]
