"""WSGI entry point, for management tooling only: serve the product with ASGI (config.asgi),
because streaming responses need it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
