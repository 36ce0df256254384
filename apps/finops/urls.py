from django.urls import path

from apps.finops import views

app_name = "finops"

urlpatterns = [
    path("t/<slug:slug>/usage/", views.usage, name="usage"),
    path("t/<slug:slug>/usage.csv", views.usage_csv, name="usage_csv"),
]
