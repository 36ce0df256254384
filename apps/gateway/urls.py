from django.urls import path

from apps.gateway import views

app_name = "gateway"

urlpatterns = [
    path("t/<slug:slug>/settings/ai/", views.ai_settings, name="ai_settings"),
    # Every call, newest first (the ledger, paged); the Usage & cost page is apps/finops.
    path("t/<slug:slug>/usage/calls/", views.usage, name="usage"),
    path("t/<slug:slug>/settings/ai/cache/", views.cache_answers, name="cache_answers"),
    path(
        "t/<slug:slug>/settings/ai/cache/<uuid:hit_id>/report/",
        views.cache_answer_report,
        name="cache_answer_report",
    ),
    path(
        "t/<slug:slug>/settings/ai/cache/reports.jsonl",
        views.cache_reports_download,
        name="cache_reports_download",
    ),
]
