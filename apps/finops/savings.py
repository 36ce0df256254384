"""What the caches, the cheaper model and the Batch API saved, against a baseline: the
same work on the strong model, real-time, with no cache.

Per model (the rollups' ``model``), with ``realtime(m, tin, tout)`` the model's list price
and ``strong(tin, tout)`` the strong model's (the ``smart`` alias's first deployment):

- exact and semantic cache: what the ledger recorded as saved on each hit (the cost of the
  call that produced the cached answer);
- Batch API: ``realtime(m, batch tokens) - batch cost`` (the provider's batch discount);
- cheaper model (cascade, a cheaper default, a budget downgrade): ``strong(tokens) -
  realtime(m, tokens)`` over every provider token, floored at zero per model;
- baseline = cost + all of the above, so the parts add up to the baseline exactly, and
  the share saved is ``saved / baseline`` (none when the baseline is zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

Price = tuple[Decimal, Decimal]  # USD per input token, per output token
ZERO = Decimal(0)


@dataclass(frozen=True)
class ModelUsage:
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    batch_tokens_in: int = 0
    batch_tokens_out: int = 0
    batch_cost_usd: Decimal = ZERO
    saved_exact_usd: Decimal = ZERO
    saved_semantic_usd: Decimal = ZERO


@dataclass(frozen=True)
class Savings:
    cost_usd: Decimal
    exact_cache_usd: Decimal
    semantic_cache_usd: Decimal
    cheaper_model_usd: Decimal
    batch_usd: Decimal
    baseline_usd: Decimal
    strong_model: str

    @property
    def total_usd(self) -> Decimal:
        return (
            self.exact_cache_usd + self.semantic_cache_usd + self.cheaper_model_usd + self.batch_usd
        )

    @property
    def share(self) -> float | None:
        """Saved as a share of the baseline, 0 to 1; None with no usage."""
        return float(self.total_usd / self.baseline_usd) if self.baseline_usd else None

    def parts(self) -> list[tuple[str, Decimal]]:
        return [
            ("Exact cache", self.exact_cache_usd),
            ("Semantic cache", self.semantic_cache_usd),
            ("Cheaper model (cascade)", self.cheaper_model_usd),
            ("Batch API", self.batch_usd),
        ]


def _at(price: Price, tokens_in: int, tokens_out: int) -> Decimal:
    return price[0] * tokens_in + price[1] * tokens_out


def savings(
    usage: Iterable[ModelUsage], *, price: Callable[[str], Price], strong_model: str
) -> Savings:
    strong = price(strong_model)
    cost = exact = semantic = cheaper = batch = ZERO
    for m in usage:
        cost += m.cost_usd
        exact += m.saved_exact_usd
        semantic += m.saved_semantic_usd
        if not (m.tokens_in or m.tokens_out):
            continue  # cache hits and refusals: no tokens, no price to look up
        own = price(m.model)
        if m.batch_tokens_in or m.batch_tokens_out:
            batch += max(ZERO, _at(own, m.batch_tokens_in, m.batch_tokens_out) - m.batch_cost_usd)
        cheaper += max(
            ZERO, _at(strong, m.tokens_in, m.tokens_out) - _at(own, m.tokens_in, m.tokens_out)
        )
    baseline = cost + exact + semantic + cheaper + batch
    return Savings(cost, exact, semantic, cheaper, batch, baseline, strong_model)
