from django.apps import AppConfig

from apps.core.navigation import NavItem


class FinopsConfig(AppConfig):
    name = "apps.finops"
    label = "finops"
    nav_items = (
        NavItem(
            section="usage",
            label="Usage",
            url_name="finops:usage",
            icon="includes/icons/usage.svg",
            order=60,
            lights=("finops:usage",),
            managers_only=True,
        ),
        NavItem(
            section="operator",
            label="Operator console",
            url_name="operator",
            icon="includes/icons/operator.svg",
            order=10,
            lights=("operator",),
            menu="platform",
        ),
    )
