"""Step 6: the LiteLLM Router, built from settings.

Aliases are what tenants choose and callers ask for: ``fast`` (cheaper), ``smart``
(stronger) and ``embed``. Each alias maps to one or more deployments; LiteLLM load
balances, retries, cools down failing deployments and falls back across aliases
(``smart`` -> ``fast`` and ``fast`` -> ``smart``) before the first token.

litellm is imported here and nowhere else outside ``apps/gateway`` (a test enforces it),
lazily: the import takes seconds, and pages that never call a model should not pay it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import weakref
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.utils.functional import empty

ALIASES = ("fast", "smart", "embed")
CHEAPER = {"smart": "fast"}

# The local provider's dev prices (USD per token), set explicitly so costs, budgets and
# the ledger behave as with a paid provider. They mirror small/large hosted models.
LOCAL_PRICES = {
    "local-fast": (Decimal("0.15") / 10**6, Decimal("0.60") / 10**6, 16_384),
    "local-smart": (Decimal("2.50") / 10**6, Decimal("10.00") / 10**6, 16_384),
    "local-unsure": (Decimal("0.15") / 10**6, Decimal("0.60") / 10**6, 16_384),
    "local-embed": (Decimal("0.02") / 10**6, Decimal("0"), 512),
}

# Process-wide state ---------------------------------------------------------------------
# _deployment_cache: the deployments built from settings, with their fingerprint, keyed by
#   the identity of the setting values they read (_SETTING_NAMES). Read on every call, so
#   it is rebuilt only when one of them changes (override_settings puts new objects);
#   one entry.
# _routers: event loop -> {deployments' fingerprint: litellm.Router}. LiteLLM's HTTP
#   clients belong to the loop that made them, so each loop has its Router, rebuilt when
#   the deployments change; a loop's entry goes with the loop (weak keys).
# litellm_module() (functools.cache): litellm, imported and configured once.
# They hold what settings and the loop determine, so they are per process by nature. No
# lock: threads that race build the same value, and the last one stays. Tests reset
# nothing: a settings change rebuilds, and each test's loop gets its own Router.
_deployment_cache: dict[tuple[int, ...], tuple[tuple[list[Deployment], str], tuple[Any, ...]]] = {}
_routers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Deployment:
    alias: str
    model: str  # LiteLLM model string, e.g. "openai/gpt-4o-mini"
    api_base: str | None = None
    api_key: str | None = None
    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    max_input_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def local_deployment(alias: str, name: str) -> Deployment:
    prices = LOCAL_PRICES.get(name, LOCAL_PRICES["local-fast"])
    return Deployment(
        alias=alias,
        model=f"openai/{name}",
        api_base=f"{settings.LOCAL_PROVIDER_URL}/v1",
        api_key="local",
        input_cost_per_token=prices[0],
        output_cost_per_token=prices[1],
        max_input_tokens=prices[2],
    )


_SETTING_NAMES = (
    "GATEWAY_DEPLOYMENTS",
    "LOCAL_PROVIDER_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "OPENAI_COMPATIBLE_BASE_URL",
    "OPENAI_COMPATIBLE_API_KEY",
    "OPENAI_COMPATIBLE_MODELS",
    "EMBEDDING_DIM",
    "GATEWAY_NUM_RETRIES",
    "GATEWAY_TIMEOUT_S",
    "GATEWAY_COOLDOWN_S",
)


def _current() -> tuple[list[Deployment], str]:
    """The deployments and their fingerprint, rebuilt only when a setting changes
    (read on every call, so it must cost next to nothing)."""
    # Read on the settings object itself: through django.conf.settings' lazy proxy each
    # attribute costs ~1 µs, and this runs 4-5 times a call (13 µs each, was 6% of a
    # call's CPU). override_settings swaps the object, so a change is still seen.
    wrapped = cast(Any, settings)._wrapped
    if wrapped is empty:  # not set up yet: the first read through the proxy does it
        getattr(settings, "DEBUG", None)
        wrapped = cast(Any, settings)._wrapped
    values = tuple(getattr(wrapped, name, None) for name in _SETTING_NAMES)
    key = tuple(map(id, values))
    cached = _deployment_cache.get(key)
    if cached is None:
        deployments = _build_deployments()
        # The entry keeps the values alive, so their ids cannot be reused by new objects
        # while it stands.
        cached = ((deployments, _fingerprint(deployments)), values)
        _deployment_cache.clear()
        _deployment_cache[key] = cached
    return cached[0]


def configured_deployments() -> list[Deployment]:
    return _current()[0]


def _build_deployments() -> list[Deployment]:
    """Deployments from settings: GATEWAY_DEPLOYMENTS if set (tests, custom set-ups),
    else one per provider whose key is set, else the local provider."""
    custom = getattr(settings, "GATEWAY_DEPLOYMENTS", None)
    if custom:
        return list(custom)
    out: list[Deployment] = []
    dim = {"dimensions": settings.EMBEDDING_DIM}
    if settings.OPENAI_API_KEY:
        key = settings.OPENAI_API_KEY
        out += [
            Deployment("fast", "openai/gpt-4o-mini", api_key=key),
            Deployment("smart", "openai/gpt-4o", api_key=key),
            Deployment("embed", "openai/text-embedding-3-small", api_key=key, params=dim),
        ]
    if settings.ANTHROPIC_API_KEY:
        key = settings.ANTHROPIC_API_KEY
        out += [
            Deployment("fast", "anthropic/claude-3-5-haiku-latest", api_key=key),
            Deployment("smart", "anthropic/claude-3-7-sonnet-latest", api_key=key),
        ]
    if settings.GEMINI_API_KEY:
        key = settings.GEMINI_API_KEY
        out += [
            Deployment("fast", "gemini/gemini-2.0-flash", api_key=key),
            Deployment("smart", "gemini/gemini-2.5-pro", api_key=key),
        ]
    if settings.MISTRAL_API_KEY:
        key = settings.MISTRAL_API_KEY
        out += [
            Deployment("fast", "mistral/mistral-small-latest", api_key=key),
            Deployment("smart", "mistral/mistral-large-latest", api_key=key),
            Deployment("embed", "mistral/mistral-embed", api_key=key),
        ]
    if settings.OPENAI_COMPATIBLE_BASE_URL:
        models = settings.OPENAI_COMPATIBLE_MODELS or ["default"]
        for alias, name in zip(("fast", "smart", "embed"), models, strict=False):
            out.append(
                Deployment(
                    alias,
                    f"openai/{name}",
                    api_base=settings.OPENAI_COMPATIBLE_BASE_URL,
                    api_key=settings.OPENAI_COMPATIBLE_API_KEY or "none",
                )
            )
    aliases = {d.alias for d in out}
    for alias, name in (("fast", "local-fast"), ("smart", "local-smart"), ("embed", "local-embed")):
        if alias not in aliases:
            out.append(local_deployment(alias, name))
    return out


def _fingerprint(deployments: list[Deployment]) -> str:
    blob = json.dumps(
        [asdict(d) for d in deployments]
        + [settings.GATEWAY_NUM_RETRIES, settings.GATEWAY_TIMEOUT_S, settings.GATEWAY_COOLDOWN_S],
        default=str,
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@cache
def litellm_module() -> Any:
    """Import litellm once, offline: without this flag it fetches the cost map at import."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    # LiteLLM logs every call at INFO through its own handlers: keep warnings, in our
    # JSON format (the root handler), and nothing else.
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        lite_logger = logging.getLogger(name)
        lite_logger.handlers.clear()
        lite_logger.setLevel(logging.WARNING)
        lite_logger.propagate = True
    litellm.drop_params = True  # a provider that lacks a parameter (logprobs) ignores it
    return litellm


async def litellm_loaded() -> Any:
    """``litellm_module()`` from async code: the first import takes seconds, so it runs
    off the event loop, which must keep serving; afterwards it is a cache hit."""
    if litellm_module.cache_info().currsize == 0:
        return await asyncio.to_thread(litellm_module)
    return litellm_module()


def _register_prices(litellm: Any, deployments: list[Deployment]) -> None:
    entries = {}
    for d in deployments:
        if d.input_cost_per_token is None:
            continue
        entries[d.model] = {
            "input_cost_per_token": float(d.input_cost_per_token),
            "output_cost_per_token": float(d.output_cost_per_token or 0),
            "cache_creation_input_token_cost": 0.0,
            "cache_read_input_token_cost": 0.0,
            "max_input_tokens": d.max_input_tokens or 8192,
            "max_tokens": d.max_input_tokens or 8192,
            "litellm_provider": d.model.split("/", 1)[0],
            "mode": "embedding" if d.alias == "embed" else "chat",
        }
    if entries:
        litellm.register_model(entries)


def get_router() -> Any:
    deployments, fingerprint = _current()
    per_loop = _routers.setdefault(asyncio.get_running_loop(), {})
    router = per_loop.get(fingerprint)
    if router is None:
        litellm = litellm_module()
        _register_prices(litellm, deployments)
        model_list = [
            {
                "model_name": d.alias,
                "litellm_params": {
                    "model": d.model,
                    **({"api_base": d.api_base} if d.api_base else {}),
                    **({"api_key": d.api_key} if d.api_key else {}),
                    **d.params,
                },
                "model_info": {"id": f"{d.alias}:{d.model}"},
            }
            for d in deployments
        ]
        router = litellm.Router(
            model_list=model_list,
            fallbacks=[{"smart": ["fast"]}, {"fast": ["smart"]}],
            num_retries=settings.GATEWAY_NUM_RETRIES,
            retry_after=0,
            timeout=settings.GATEWAY_TIMEOUT_S,
            allowed_fails=1,
            cooldown_time=settings.GATEWAY_COOLDOWN_S,
        )
        per_loop.clear()
        per_loop[fingerprint] = router
    return router


def deployments_for(alias: str) -> list[Deployment]:
    return [d for d in configured_deployments() if d.alias == alias]


def price_per_token(model: str) -> tuple[Decimal, Decimal]:
    """(input, output) USD per token for a LiteLLM model string, from our deployments or
    LiteLLM's offline cost map; (0, 0) when unknown (the ledger then says $0 honestly)."""
    for d in configured_deployments():
        if d.model == model and d.input_cost_per_token is not None:
            return d.input_cost_per_token, d.output_cost_per_token or Decimal(0)
    info = litellm_module().model_cost.get(model) or litellm_module().model_cost.get(
        model.split("/", 1)[-1]
    )
    if not info:
        return Decimal(0), Decimal(0)
    return (
        Decimal(str(info.get("input_cost_per_token") or 0)),
        Decimal(str(info.get("output_cost_per_token") or 0)),
    )


def cost_usd(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    price_in, price_out = price_per_token(model)
    return price_in * tokens_in + price_out * tokens_out


def max_price_per_token(alias: str) -> tuple[Decimal, Decimal]:
    """The dearest deployment that may serve ``alias``, its fallback included: what a
    budget reservation must assume."""
    candidates = deployments_for(alias) + deployments_for(
        {"fast": "smart", "smart": "fast"}.get(alias, alias)
    )
    prices = [price_per_token(d.model) for d in candidates] or [(Decimal(0), Decimal(0))]
    return max(p[0] for p in prices), max(p[1] for p in prices)


def context_window(alias: str) -> int:
    """The smallest input window among the alias's deployments."""
    windows = []
    for d in deployments_for(alias):
        if d.max_input_tokens:
            windows.append(d.max_input_tokens)
            continue
        info = litellm_module().model_cost.get(d.model) or litellm_module().model_cost.get(
            d.model.split("/", 1)[-1], {}
        )
        windows.append(int(info.get("max_input_tokens") or 8192))
    return min(windows) if windows else 8192


def deployment_for_model_id(model_id: str | None) -> Deployment | None:
    for d in configured_deployments():
        if f"{d.alias}:{d.model}" == model_id:
            return d
    return None


def served_model(response: Any) -> str:
    """The LiteLLM model string of the deployment that answered."""
    hidden = getattr(response, "_hidden_params", None) or {}
    deployment = deployment_for_model_id(hidden.get("model_id"))
    if deployment is not None:
        return deployment.model
    return str(getattr(response, "model", "") or "")
