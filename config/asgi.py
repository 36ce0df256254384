import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()  # sets Django up

from apps.core import heap  # noqa: E402
from apps.core.asgi import Application, LeanHandler  # noqa: E402  (needs Django set up)

# Views marked @lean skip the synchronous middleware stack (apps/core/asgi.py).
application = Application(django_application, LeanHandler())


def _warm_up() -> None:
    """Import LiteLLM and load its tokenizer (seconds), the semantic cache's pair reader and
    the injection detector's e5 encoder (about 1.5 s) now, in the background, not in the
    first AI request; then freeze the start-up heap (apps/core/heap.py)."""
    from apps.gateway.cache_verifier.decision import warm_up as warm_cache_decision
    from apps.gateway.router import litellm_module
    from apps.gateway.validation import count_text_tokens
    from apps.guardrails.encoder import embedder

    litellm_module()
    count_text_tokens("warm")
    warm_cache_decision()
    embedder()
    heap.freeze_startup_heap()


# Fewer, larger young collections: objects that live as long as a stream are walked
# less often (apps/core/heap.py).
heap.set_thresholds(heap.parse_thresholds(os.environ.get("GC_THRESHOLDS", "")))
threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
