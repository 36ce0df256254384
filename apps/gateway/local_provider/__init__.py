"""The local provider: an OpenAI-compatible HTTP server for dev and tests.

LiteLLM's ``openai/`` provider (and the ``openai`` SDK) talk to it when no real provider
key is configured. It runs as its own process (``python -m apps.gateway.local_provider``)
because it loads torch for real embeddings; nothing in this package may be imported by the
Django web or worker processes except this docstring-only module. See docs/local-provider.md.
"""
