import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()


def _warm_gateway() -> None:
    """Import LiteLLM (seconds) now, in the background, not in the first AI request."""
    from apps.gateway.router import litellm_module

    litellm_module()


threading.Thread(target=_warm_gateway, name="warm-litellm", daemon=True).start()
