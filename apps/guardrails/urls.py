from django.urls import path

from apps.guardrails import views

app_name = "guardrails"

urlpatterns = [
    path("t/<slug:slug>/settings/ai/guardrails/", views.events, name="events"),
]
