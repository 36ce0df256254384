"""``/api/v1/``: every app's API router, mounted in one place.

apps/api builds the API (authentication, the key's tenant context, the one error shape);
each app keeps its endpoints in its own ``api.py`` as a django-ninja Router. A new
router is added here. ``POST /api/v1/chat/completions`` is a plain async view routed in
config/urls.py (apps/api/openai_compat.py).
"""

from apps.api.api import build_api
from apps.api.cache_api import router as cache_reports
from apps.chat.api import router as conversations
from apps.finops.api import router as usage
from apps.rag.api import router as documents
from apps.rag.search_api import router as search
from apps.summaries.api import router as summaries

api = build_api([conversations, documents, search, summaries, cache_reports, usage])
