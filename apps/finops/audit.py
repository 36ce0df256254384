"""Prompt cost audit: what the fixed text sent with every call costs a month.

The tenant's system prompt goes with every chat call (the app's and the API's), and with
documents on, the RAG instructions and up to ``rag_top_k`` passages go with every chat
call as well. Their tokens times the calls of the last 30 days that reached a provider
(cache hits and errors send nothing) times the input price of the tenant's model is what
they cost a month at the current volume. When that is more than half of everything the
tenant's AI cost over the same 30 days, the page warns: a shorter prompt or fewer
passages is the cheapest saving there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from apps.finops.models import Period, UsageRollup
from apps.finops.selectors import ZERO, day_start, today_utc
from apps.gateway import api as gateway
from apps.gateway import router
from apps.gateway.config import ResolvedConfig
from apps.rag.context import PROMPT_INSTRUCTIONS
from apps.tenants.models import Tenant

WINDOW_DAYS = 30
PROMPTED_FEATURES = ("chat", "api_chat")  # calls that carry the tenant's system prompt
RAG_FEATURES = ("chat",)  # calls that carry retrieved passages
DOMINANT_SHARE = 0.5


@dataclass(frozen=True)
class PromptCost:
    name: str
    text: str
    tokens: int
    calls: int  # in the last 30 days
    monthly_usd: Decimal
    note: str = ""


@dataclass(frozen=True)
class PromptAudit:
    items: list[PromptCost]
    model: str
    price_in_per_million: Decimal
    window_cost_usd: Decimal  # everything, last 30 days

    @property
    def monthly_usd(self) -> Decimal:
        return sum((i.monthly_usd for i in self.items), ZERO)

    @property
    def share(self) -> float | None:
        return float(self.monthly_usd / self.window_cost_usd) if self.window_cost_usd else None

    @property
    def dominant(self) -> bool:
        share = self.share
        return share is not None and share > DOMINANT_SHARE


def _provider_calls(tenant: Tenant, features: tuple[str, ...], since: date) -> int:
    totals = UsageRollup.objects.filter(
        tenant=tenant, period=Period.DAY, bucket__gte=day_start(since), feature__in=features
    ).aggregate(
        calls=Sum("calls"),
        exact=Sum("exact_hits"),
        semantic=Sum("semantic_hits"),
        errors=Sum("errors"),
    )
    return max(
        0,
        (totals["calls"] or 0)
        - (totals["exact"] or 0)
        - (totals["semantic"] or 0)
        - (totals["errors"] or 0),
    )


def prompt_audit(tenant: Tenant, cfg: ResolvedConfig, today: date | None = None) -> PromptAudit:
    """Call inside tenant_context."""
    today = today or today_utc()
    since = today - timedelta(days=WINDOW_DAYS - 1)
    deployments = router.deployments_for(cfg.model_alias)
    model = deployments[0].model if deployments else ""
    price_in = router.price_per_token(model)[0] if model else ZERO
    window_cost = (
        UsageRollup.objects.filter(
            tenant=tenant, period=Period.DAY, bucket__gte=day_start(since)
        ).aggregate(cost=Sum("cost_usd"))["cost"]
        or ZERO
    )

    def item(name: str, text: str, tokens: int, calls: int, note: str = "") -> PromptCost:
        monthly = (price_in * tokens * calls).quantize(Decimal("0.000001"))
        return PromptCost(name, text, tokens, calls, monthly, note)

    chat_calls = _provider_calls(tenant, PROMPTED_FEATURES, since)
    items = [
        item(
            "System prompt",
            cfg.system_prompt,
            gateway.count_text_tokens(cfg.system_prompt),
            chat_calls,
        )
    ]
    if cfg.rag_enabled:
        rag_calls = _provider_calls(tenant, RAG_FEATURES, since)
        template = f"{PROMPT_INSTRUCTIONS}\n\nPassages:\n\n"
        items.append(
            item("RAG context template", template, gateway.count_text_tokens(template), rag_calls)
        )
        passages = cfg.rag_top_k * settings.RAG_CHUNK_TOKENS
        items.append(
            item(
                "Retrieved passages (at most)",
                "",
                passages,
                rag_calls,
                f"{cfg.rag_top_k} passages of up to {settings.RAG_CHUNK_TOKENS} tokens each.",
            )
        )
    return PromptAudit(items, model, price_in * 1_000_000, window_cost)
