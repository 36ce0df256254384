import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()  # sets Django up

from apps.core.asgi import Application, StreamHandler  # noqa: E402  (needs Django set up)

# Event streams skip the synchronous middleware stack (apps/core/asgi.py).
application = Application(django_application, StreamHandler())


def _warm_gateway() -> None:
    """Import LiteLLM and load its tokenizer (seconds) now, in the background, not on the
    event loop in the first AI request."""
    from apps.gateway.router import litellm_module
    from apps.gateway.validation import count_text_tokens

    litellm_module()
    count_text_tokens("warm")


threading.Thread(target=_warm_gateway, name="warm-litellm", daemon=True).start()
