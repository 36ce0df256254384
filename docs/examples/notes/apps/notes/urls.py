from django.urls import path

from apps.notes import views

app_name = "notes"

urlpatterns = [
    path("t/<slug:slug>/notes/", views.notes, name="notes"),
]
