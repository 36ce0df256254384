"""Addresses of the embedded development stack.

Shared by the settings (the defaults when no environment variable is set) and by
`apps.core.devstack`, which starts the servers. Importing this module imports
nothing from Django, so the devstack can run before Django is configured.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEVDATA = Path(os.environ.get("DEVDATA_DIR", BASE_DIR / ".devdata"))

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("DEV_PG_PORT", "54329"))
PG_DATABASE = "app"
PG_SUPERUSER = "postgres"
# Development-only credentials for a server that listens on loopback only.
PG_SUPERUSER_PASSWORD = "dev-superuser"  # noqa: S105 - loopback-only dev server
OWNER_ROLE = "app_owner"
OWNER_PASSWORD = "dev-owner"  # noqa: S105
RUNTIME_ROLE = "app_runtime"
RUNTIME_PASSWORD = "dev-runtime"  # noqa: S105

VALKEY_HOST = "127.0.0.1"
VALKEY_PORT = int(os.environ.get("DEV_VALKEY_PORT", "63799"))
LOCAL_PROVIDER_PORT = int(os.environ.get("LOCAL_PROVIDER_PORT", "18080"))
LOCAL_STRIPE_PORT = int(os.environ.get("LOCAL_STRIPE_PORT", "12111"))
# The local Stripe server signs its webhooks with this; the app checks them with it.
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_local_dev_secret"  # noqa: S105 - a dev-only secret


def pg_url(user: str, password: str, database: str = PG_DATABASE) -> str:
    return f"postgres://{user}:{password}@{PG_HOST}:{PG_PORT}/{database}"


DEFAULT_DATABASE_URL = pg_url(RUNTIME_ROLE, RUNTIME_PASSWORD)
DEFAULT_DATABASE_OWNER_URL = pg_url(OWNER_ROLE, OWNER_PASSWORD)
DEFAULT_REDIS_URL = f"redis://{VALKEY_HOST}:{VALKEY_PORT}/0"
