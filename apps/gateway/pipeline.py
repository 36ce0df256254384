"""What every gateway call shares: the reservation of one call and its settlement, the
system prompt, the cache lookup and store (docs/gateway.md).

``streaming.stream_chat``, ``completion.complete`` and ``embeddings.embed`` build on it.
Every path ends in exactly one ledger row per provider call or cache hit, with the budget
and the token reservation settled, including refusals, provider errors, streams cut by
the provider and streams the client abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from apps.gateway import (
    admission,
    budget,
    cache,
    guard,
    ratelimit,
    router,
    semantic_cache,
    validation,
)
from apps.gateway.config import ResolvedConfig, resolve
from apps.gateway.embeddings import embed_raw
from apps.gateway.journal import record
from apps.gateway.ledger import LedgerEntry
from apps.gateway.models import CacheKind, CallStatus
from apps.gateway.types import CallContext, GatewayError
from apps.guardrails.policy import Action, Check, Policy

logger = logging.getLogger(__name__)
# The ledger's feature for what the semantic cache itself costs: its embedding calls and
# the provider calls it overtook (semantic_race.py).
CACHE_FEATURE = "semantic_cache"


@dataclass
class Call:
    """Everything reserved for one call, so every exit can settle it the same way."""

    ctx: CallContext
    cfg: ResolvedConfig
    alias: str
    messages: list[dict[str, Any]]
    prompt_tokens: int
    max_tokens: int
    temperature: float
    reservation: ratelimit.Reservation
    decision: budget.BudgetDecision
    started: float
    # Material for this answer only (retrieved passages): the semantic cache is skipped,
    # since a paraphrased question may need other passages.
    has_context: bool = False
    # The semantic cache's hit, once found: its ledger row keeps which entry answered.
    semantic_hit: semantic_cache.SemanticHit | None = None
    # The tenant's guardrail policy, its canary ("" when that check is off) and what the
    # input check flagged (reported to the caller with the answer).
    policy: Policy = field(default_factory=Policy)
    canary: str = ""
    flags: tuple[str, ...] = ()
    # Since ADR 0019: the injection encoder's verdict, reached beside the provider's call
    # where the policy only flags or logs injections, or blocks them with the answer held
    # (None: it was reached in line).
    later_flags: asyncio.Task[tuple[str, ...]] | None = None
    # Set by ``start_later``: the later verdict that only flags or logs waits for it.
    later_sent: asyncio.Event | None = None

    def start_later(self) -> None:
        """Let a later verdict that only flags or logs start: called as the provider's
        request goes out (streaming._open, completion._answer, each through call_soon, so
        it runs once the request is written and the loop waits for the answer), and by
        whoever waits for the verdict (a cached answer sends no request)."""
        if self.later_sent is not None:
            self.later_sent.set()

    async def input_flags(self, *more: str) -> tuple[str, ...]:
        """The input check's flags, the later verdict's included (waited for here), then
        ``more`` (the output's), each once."""
        self.start_later()
        later = await asyncio.shield(self.later_flags) if self.later_flags is not None else ()
        return tuple(dict.fromkeys((*self.flags, *later, *more)))

    @property
    def held(self) -> bool:
        """The policy blocks injections and the encoder's verdict was left to come beside
        the provider's call (ADR 0019's held mode): nothing of the answer may be shown,
        returned or cached before ``verdict`` returns."""
        blocks = self.policy.action(Check.PROMPT_INJECTION) == Action.BLOCK
        return blocks and self.later_flags is not None

    async def verdict(self) -> None:
        """Where the call is ``held``, wait for the encoder's verdict: raises GatewayError
        ("guardrail_blocked") when it blocks. Otherwise returns at once. Shielded: a
        caller who leaves does not cancel the verdict, so its hit is still logged."""
        if self.held and self.later_flags is not None:
            await asyncio.shield(self.later_flags)

    async def settle(
        self,
        *,
        status: str,
        served_model: str = "",
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: Decimal = Decimal(0),
        cache_kind: str = "",
        saved: Decimal = Decimal(0),
        error_code: str = "",
        ttft: float | None = None,
    ) -> Any:
        entry = LedgerEntry(
            ctx=self.ctx,
            requested_model=self.alias,
            served_model=served_model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            cache=cache_kind,
            saved_cost_usd=saved,
            status=status,
            error_code=error_code,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            ttft_ms=None if ttft is None else int((ttft - self.started) * 1000),
            semantic_hit=self.semantic_hit if cache_kind == CacheKind.SEMANTIC else None,
        )
        # Shielded: a client that disconnects must not cancel the bookkeeping.
        return await asyncio.shield(self._settle(entry, tokens_in + tokens_out, cost))

    async def _settle(self, entry: LedgerEntry, tokens: int, cost: Decimal) -> Any:
        return await admission.settle_and_record(
            self.cfg, self.reservation, self.decision, tokens=tokens, cost=cost, entry=entry
        )


def with_system_prompt(
    cfg: ResolvedConfig, messages: list[dict[str, Any]], context: str = "", canary: str = ""
) -> list[dict[str, Any]]:
    """The tenant's system prompt first (unless the caller sent one), with the tenant's
    canary when that guardrail is on, then ``context`` as a system message of its own,
    then the conversation."""
    out = list(messages)
    if cfg.system_prompt and not any(m.get("role") == "system" for m in out):
        prompt = guard.system_prompt_with_canary(cfg.system_prompt, canary)
        out.insert(0, {"role": "system", "content": prompt})
    if context:
        leading = next((i for i, m in enumerate(out) if m.get("role") != "system"), len(out))
        out.insert(leading, {"role": "system", "content": context})
    return out


async def begin(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None,
    max_tokens: int | None,
    temperature: float | None,
    trim_history: bool = False,
    context: str = "",
    checked_input: bool = False,
) -> Call:
    await router.litellm_loaded()
    started = time.perf_counter()
    cfg = await resolve(ctx)
    alias = alias or cfg.model_alias
    max_tokens = max_tokens or cfg.max_tokens
    policy = guard.policy_of(cfg)
    canary = guard.canary_of(cfg, policy)
    full = with_system_prompt(cfg, messages, context, canary)
    counted = None
    if trim_history:
        full, counted = validation.trim_to_window(full, alias, max_tokens)
    prompt_tokens = validation.validate_chat(full, alias, max_tokens, tokens=counted)
    # Guardrails: after validation, before the limits, the caches and the provider, so
    # a blocked message costs nothing and a redacted value is never cached or sent. Text
    # the guardrails already judged (``checked_input``) is only redacted: judging it
    # again would log its hits twice and cost the classifier's time on the event loop.
    if checked_input:
        checked = guard.Checked(guard.redacted(policy, full))
    else:
        checked = await guard.check_input(ctx, policy, full)
    full = checked.messages
    reservation, decision = await _reserve(cfg, alias, prompt_tokens, max_tokens)
    return Call(
        ctx=ctx,
        cfg=cfg,
        alias=decision.alias,
        messages=full,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        temperature=cfg.temperature if temperature is None else temperature,
        reservation=reservation,
        decision=decision,
        started=started,
        has_context=bool(context),
        policy=policy,
        canary=canary,
        flags=checked.flags,
        later_flags=checked.later,
        later_sent=checked.sent,
    )


async def _reserve(
    cfg: ResolvedConfig, alias: str, prompt_tokens: int, max_tokens: int
) -> tuple[ratelimit.Reservation, budget.BudgetDecision]:
    """Tokens and requests (rate limit) and the call's most cost (budget), together."""
    return await admission.reserve(
        cfg,
        alias=alias,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        requests_per_minute=cfg.requests_per_minute,
    )


async def begin_again(call: Call) -> Call:
    """A second provider call for a request that ``begin`` already admitted (the
    cascade's escalation): its tokens and budget are reserved afresh; the messages, the
    policy and the input's flags are the first call's, so the input is checked (and
    logged) once per request, not once per provider call."""
    reservation, decision = await _reserve(
        call.cfg, call.alias, call.prompt_tokens, call.max_tokens
    )
    return replace(
        call,
        alias=decision.alias,
        reservation=reservation,
        decision=decision,
        started=time.perf_counter(),
        semantic_hit=None,
    )


async def record_refusal(ctx: CallContext, alias: str | None, exc: GatewayError) -> Any:
    if exc.code in ("rate_limited", "budget_exceeded", "guardrail_blocked"):
        status = CallStatus.BLOCKED if exc.code == "guardrail_blocked" else CallStatus.ERROR
        return await record(
            LedgerEntry(ctx=ctx, requested_model=alias or "", status=status, error_code=exc.code)
        )
    return None


async def _embed_question(call: Call, question: str) -> list[float] | None:
    """The question's embedding for the semantic cache, or None when embeddings fail
    (the cache is an optimisation: a failure must not fail the call)."""
    try:
        result = await embed_raw(
            CallContext(
                tenant_id=call.ctx.tenant_id,
                feature=CACHE_FEATURE,
                user_id=call.ctx.user_id,
                api_key_id=call.ctx.api_key_id,
                request_id=call.ctx.request_id,
            ),
            [question],
        )
    except GatewayError:
        logger.warning("semantic cache skipped: embedding failed")
        return None
    return result.vectors[0]


@dataclass(frozen=True)
class CacheCheck:
    """The exact cache's verdict on a call: a hit, or the key to store the answer under
    ("" with the caches off) and the question the semantic cache may still answer (None
    when it does not apply)."""

    key: str
    kind: str = ""
    answer: cache.CachedAnswer | None = None
    question: str | None = None


@dataclass(frozen=True)
class Looked:
    """The semantic cache's verdict: the hit (or None) and the question's embedding (to
    store the answer under; None when embedding failed)."""

    hit: semantic_cache.SemanticHit | None
    embedding: list[float] | None


_NO_ANSWER = cache.CachedAnswer("", "", 0, 0, "0")


async def exact_lookup(call: Call) -> CacheCheck:
    if not call.cfg.cache_enabled:
        return CacheCheck("")  # nothing is looked up or stored: no key to hash
    key = cache.exact_key(
        tenant_id=call.cfg.tenant_id,
        alias=call.alias,
        system_prompt_hash=call.cfg.system_prompt_hash,
        messages=call.messages,
        temperature=call.temperature,
        max_tokens=call.max_tokens,
    )
    hit = await cache.get(key)
    if hit is not None:
        return CacheCheck(key, CacheKind.EXACT, hit)
    question = None if call.has_context else semantic_cache.cacheable_question(call.messages)
    return CacheCheck(key, question=question)


async def semantic_lookup(call: Call, question: str) -> Looked:
    """Embed the question and search the tenant's semantic cache. Never raises for the
    cache's sake: a failure is a miss (the cache is an optimisation)."""
    embedding = await _embed_question(call, question)
    if embedding is None:
        return Looked(None, None)
    try:
        found = await semantic_cache.lookup(
            tenant_id=call.cfg.tenant_id,
            alias=call.alias,
            system_prompt_hash=call.cfg.system_prompt_hash,
            query=question,
            embedding=embedding,
            threshold=call.cfg.semantic_threshold,
        )
    except Exception:
        logger.exception("semantic cache lookup failed: treated as a miss")
        return Looked(None, embedding)
    return Looked(found, embedding)


def semantic_answer(call: Call, found: semantic_cache.SemanticHit) -> cache.CachedAnswer:
    """Serve ``found``: its ledger row will say which entry answered."""
    call.semantic_hit = found
    return cache.CachedAnswer(
        found.response, found.served_model, found.tokens_in, found.tokens_out, str(found.cost_usd)
    )


async def cache_lookup(call: Call) -> tuple[str, cache.CachedAnswer, str, list[float] | None]:
    """Exact, then semantic, one after the other (the cascade's path; the others race
    the semantic lookup against the provider, apps/gateway/semantic_race.py).
    Returns (kind, answer, exact_key, question_embedding)."""
    check = await exact_lookup(call)
    if check.kind:
        return check.kind, check.answer or _NO_ANSWER, check.key, None
    if check.question is None:
        return "", _NO_ANSWER, check.key, None
    looked = await semantic_lookup(call, check.question)
    if looked.hit is None:
        return "", _NO_ANSWER, check.key, looked.embedding
    return CacheKind.SEMANTIC, semantic_answer(call, looked.hit), check.key, looked.embedding


async def cache_store(
    call: Call,
    key: str,
    embedding: list[float] | None,
    content: str,
    served: str,
    tokens_in: int,
    tokens_out: int,
    cost: Decimal,
) -> None:
    if not call.cfg.cache_enabled or not content:
        return
    await cache.put(key, cache.CachedAnswer(content, served, tokens_in, tokens_out, str(cost)))
    question = None if call.has_context else semantic_cache.cacheable_question(call.messages)
    if question is not None and embedding is not None:
        await semantic_cache.store(
            tenant_id=call.cfg.tenant_id,
            alias=call.alias,
            system_prompt_hash=call.cfg.system_prompt_hash,
            query=question,
            embedding=embedding,
            response=content,
            served_model=served,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
        )


def words(text: str) -> list[str]:
    """Split a cached answer into word tokens that join back to the exact text."""
    out: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char == " " and i + 1 < len(text) and text[i + 1] != " ":
            out.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out
