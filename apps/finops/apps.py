from django.apps import AppConfig


class FinopsConfig(AppConfig):
    name = "apps.finops"
    label = "finops"
