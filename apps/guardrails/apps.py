from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "apps.guardrails"
    label = "guardrails"
    # The guardrail log is part of the AI settings (apps/gateway's link).
    nav_lights = {"guardrails": "ai_settings"}
