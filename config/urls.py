from django.contrib import admin
from django.urls import include, path

from apps.api import openai_compat
from apps.core import views as core_views
from apps.finops import operator_views
from apps.tenants import views as tenant_views
from config.api import api as api_v1

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics, name="metrics"),
    path("accounts/", include("allauth.urls")),
    path("operator/", operator_views.console, name="operator"),
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation_accept"),
    path("", include("apps.tenants.urls")),
    path("", include("apps.gateway.urls")),
    path("", include("apps.guardrails.urls")),
    path("", include("apps.api.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.chat.urls")),
    path("", include("apps.rag.urls")),
    path("", include("apps.summaries.urls")),
    path("", include("apps.finops.urls")),
    # Before the ninja API: OpenAI-compatible streaming needs a plain async view.
    path("api/v1/chat/completions", openai_compat.chat_completions, name="api_chat_completions"),
    path("api/v1/", api_v1.urls),
    path("admin/", admin.site.urls),
]
