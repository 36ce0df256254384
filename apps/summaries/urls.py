from django.urls import path

from apps.summaries import views

app_name = "summaries"

urlpatterns = [
    path("t/<slug:slug>/summaries/", views.jobs_page, name="jobs"),
    path("t/<slug:slug>/summaries/list/", views.job_rows, name="rows"),
    path("t/<slug:slug>/summaries/start/", views.job_start, name="start"),
    path("t/<slug:slug>/summaries/<uuid:job_id>/cancel/", views.job_cancel, name="cancel"),
    path(
        "t/<slug:slug>/summaries/<uuid:job_id>/results.<str:fmt>",
        views.job_results,
        name="results",
    ),
]
