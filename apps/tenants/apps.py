from django.apps import AppConfig

from apps.core.navigation import NavItem


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    nav_items = (
        NavItem(
            section="dashboard",
            label="Dashboard",
            url_name="tenants:dashboard",
            icon="includes/icons/dashboard.svg",
            order=10,
            lights=("tenants:dashboard",),
        ),
        NavItem(
            section="members",
            label="Members",
            url_name="tenants:members",
            icon="includes/icons/members.svg",
            order=40,
            lights=("tenants:members",),
        ),
        NavItem(
            section="organisation",
            label="Organisation",
            url_name="tenants:settings",
            icon="includes/icons/organisation.svg",
            order=100,
            lights=("tenants:settings", "tenants:webhook"),
            managers_only=True,
        ),
        NavItem(
            section="audit",
            label="Audit log",
            url_name="tenants:audit",
            icon="includes/icons/audit.svg",
            order=110,
            lights=("tenants:audit",),
            managers_only=True,
        ),
    )
