"""Batch calls: many chat requests answered within hours at half the price.

OpenAI-style deployments (``openai/...``: OpenAI itself, the local provider, compatible
servers) go through the provider's Files and Batches API via LiteLLM's
``create_file`` / ``create_batch`` / ``retrieve_batch`` / ``file_content`` /
``cancel_batch``. Other providers have no batch API we use: ``run_inline`` answers the
same requests with ordinary calls at a bounded concurrency on the cheap alias.

Cost is ours, not LiteLLM's (its batch cost tracking misses or double counts): each
output line's ``usage`` at ``BATCH_DISCOUNT`` of the model's price. The budget is
reserved before submission from an estimate (refused outright when it does not fit,
with the estimate in the message) and released with ``settle_batch`` after.

Every function here is sync: they run in Celery tasks. Nothing here writes the caller's
own tables; ``record_batch_usage`` writes one ledger row (and its outbox row) per item
and is idempotent per ``custom_id``, so callers can write their result in the same
transaction and a repeat charges nothing twice.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, cast

from asgiref.sync import async_to_sync

from apps.core.db import tenant_context
from apps.core.redis_client import sync_redis
from apps.gateway import budget, ledger, router
from apps.gateway.config import resolve_sync
from apps.gateway.models import CallStatus, UsageRecord
from apps.gateway.types import CallContext, GatewayError
from apps.gateway.validation import count_text_tokens

BATCH_DISCOUNT = Decimal("0.5")
ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # OpenAI's per-batch limit
CONTENT_CHUNK = 256 * 1024
LEDGER_PLACES = Decimal("0.00000001")  # UsageRecord.cost_usd's decimal places

_ENDED = ("completed", "expired", "failed", "cancelled")
BatchState = Literal["in_progress", "completed", "expired", "failed", "cancelled"]


@dataclass(frozen=True)
class BatchRequest:
    custom_id: str
    messages: list[dict[str, Any]]
    max_tokens: int = 512


@dataclass(frozen=True)
class BatchHandle:
    """What a caller stores to poll later (``as_dict`` / ``from_dict`` round-trip)."""

    batch_id: str
    model: str  # the LiteLLM model string every line was sent to
    reserved_nanos: int
    month: str
    estimate_usd: str
    key: str = ""  # the caller's idempotency key (see submit_batch)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchHandle:
        return cls(**data)


@dataclass(frozen=True)
class BatchStatus:
    state: BatchState
    total: int
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None
    error: str = ""

    @property
    def ended(self) -> bool:
        return self.state != "in_progress"


@dataclass(frozen=True)
class BatchResult:
    custom_id: str
    ok: bool
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str = ""
    retryable: bool = False  # expired lines: the work was never done


def batch_price(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    """The batch price, rounded as the ledger stores it (so sums agree to the cent)."""
    cost = router.cost_usd(model, tokens_in, tokens_out) * BATCH_DISCOUNT
    return cost.quantize(LEDGER_PLACES, rounding=ROUND_HALF_UP)


def _deployment(alias: str) -> router.Deployment:
    deployments = router.deployments_for(alias)
    if not deployments:
        raise GatewayError("invalid_request", f"No model is configured for '{alias}'.")
    return deployments[0]


DEFAULT_WINDOW = 16_384  # a deployment that does not say its window


def context_window(alias: str = "fast") -> int:
    """How many input tokens ``alias``'s first deployment takes (for callers that split
    long texts to fit, as summaries' map-reduce does)."""
    return _deployment(alias).max_input_tokens or DEFAULT_WINDOW


def supports_batches(alias: str = "fast") -> bool:
    """Whether ``alias``'s first deployment speaks OpenAI's Files and Batches API."""
    return _deployment(alias).model.startswith("openai/")


def estimate_usd(model: str, requests: list[BatchRequest]) -> Decimal:
    """The most the batch can cost: every prompt plus every answer at its max length."""
    tokens_in = sum(
        count_text_tokens(str(m.get("content") or "")) + 4 for r in requests for m in r.messages
    )
    tokens_out = sum(r.max_tokens for r in requests)
    return batch_price(model, tokens_in, tokens_out)


def _credentials(deployment: router.Deployment) -> dict[str, Any]:
    out: dict[str, Any] = {"custom_llm_provider": "openai"}
    if deployment.api_base:
        out["api_base"] = deployment.api_base
    if deployment.api_key:
        out["api_key"] = deployment.api_key
    return out


# KEYS: 1 the month's budget counter, 2 the batch's reservation record (same hash slot).
# ARGV: 1 nanos, 2 limit, 3 check the limit (1) or not (0), 4 the record's TTL in ms.
# Returns {1, nanos} reserved now, {3, nanos} already reserved under this key (a repeat),
# {0, current} refused, {-1, 0} the counter must be seeded first.
_RESERVE_ONCE = """
local held = redis.call('GET', KEYS[2])
if held then return {3, tonumber(held)} end
local amount = tonumber(ARGV[1])
if ARGV[3] == '1' then
  local current = redis.call('GET', KEYS[1])
  if not current then return {-1, 0} end
  current = tonumber(current)
  if current + amount > tonumber(ARGV[2]) then return {0, current} end
  redis.call('INCRBY', KEYS[1], amount)
end
redis.call('SET', KEYS[2], amount, 'PX', tonumber(ARGV[4]))
return {1, amount}
"""

# KEYS as above. ARGV: 1 the actual cost in nanos. Swaps the record's reservation for the
# actual cost once: a second settle finds no record and changes nothing.
_SETTLE_ONCE = """
local held = redis.call('GET', KEYS[2])
if not held then return {0, 0} end
redis.call('DEL', KEYS[2])
held = tonumber(held)
if held == 0 or not redis.call('GET', KEYS[1]) then return {1, 0} end
return {1, redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]) - held)}
"""
_RECORD_TTL_MS = 3 * 24 * 3600 * 1000  # a batch's 24 h window, and slack to settle it


def _record_key(tenant_id: str, key: str) -> str:
    return f"gw:{{{tenant_id}}}:batchres:{key}"


def _refusal(estimate: Decimal, budget_usd: Decimal, current_nanos: int) -> GatewayError:
    left = max(Decimal(0), budget_usd - Decimal(current_nanos) / budget.NANO)
    return GatewayError(
        "budget_exceeded",
        f"This batch may cost up to ${estimate:,.4f} but only ${left:,.4f} of the "
        f"monthly AI budget of ${budget_usd:,.2f} is left. Summarise fewer "
        "documents or ask an admin to raise the budget in AI settings.",
    )


def check_budget(ctx: CallContext, requests: list[BatchRequest], *, alias: str = "fast") -> Decimal:
    """The batch's estimate, if it fits what is left of the monthly budget now; else
    GatewayError ``budget_exceeded`` with the estimate and what is left. Reserves
    nothing: callers refuse bad input with it before queueing anything (submit_batch
    reserves, and checks again, when the batch is really sent)."""
    estimate = estimate_usd(_deployment(alias).model, requests)
    cfg = resolve_sync(ctx)
    if cfg.monthly_budget_usd is None:
        return estimate
    raw = sync_redis().get(budget._key(cfg.tenant_id, budget._month()))
    # Not seeded yet this month: what the ledger says was spent.
    spent = budget.month_spend_sync(cfg.tenant_id) if raw is None else None
    current = int(raw) if raw is not None else int((spent or Decimal(0)) * budget.NANO)
    if current + int(estimate * budget.NANO) + 1 > int(cfg.monthly_budget_usd * budget.NANO):
        raise _refusal(estimate, cfg.monthly_budget_usd, current)
    return estimate


def _reserve(ctx: CallContext, estimate: Decimal, key: str) -> tuple[int, str, bool]:
    """Reserve the estimate once per ``key``: (nanos, month, True when this key already
    held a reservation, i.e. this submission is a repeat)."""
    cfg = resolve_sync(ctx)
    month = budget._month()
    check = cfg.monthly_budget_usd is not None
    nanos = int(estimate * budget.NANO) + 1 if check else 0
    limit = int(cfg.monthly_budget_usd * budget.NANO) if cfg.monthly_budget_usd is not None else 0
    counter = budget._key(cfg.tenant_id, month)
    keys = (counter, _record_key(cfg.tenant_id, key))
    redis = sync_redis()
    args = (nanos, limit, "1" if check else "0", _RECORD_TTL_MS)
    status, value = (int(x) for x in redis.eval(_RESERVE_ONCE, 2, *keys, *args))
    if status == -1:
        spent = budget.month_spend_sync(cfg.tenant_id)
        redis.set(counter, int(spent * budget.NANO), nx=True, px=budget._MONTH_TTL_MS)
        status, value = (int(x) for x in redis.eval(_RESERVE_ONCE, 2, *keys, *args))
    if status == 0 and cfg.monthly_budget_usd is not None:  # only a checked one is refused
        raise _refusal(estimate, cfg.monthly_budget_usd, value)
    return value, month, status == 3


def settle_batch(ctx: CallContext, handle: BatchHandle, actual_cost: Decimal) -> None:
    """Swap the batch's reservation for what it really cost, once: a repeat (a redelivered
    task that settled before it was killed) finds the reservation gone and does nothing."""
    cfg = resolve_sync(ctx)
    if not handle.key:  # a handle from before reservations were keyed
        decision = budget.BudgetDecision("", handle.reserved_nanos, handle.month)
        async_to_sync(budget.settle)(cfg, decision, actual_cost)
        return
    keys = (budget._key(cfg.tenant_id, handle.month), _record_key(cfg.tenant_id, handle.key))
    settled, total = (
        int(x) for x in sync_redis().eval(_SETTLE_ONCE, 2, *keys, int(actual_cost * budget.NANO))
    )
    if settled and total and cfg.monthly_budget_usd:
        budget.alert_if_crossed_sync(cfg, handle.month, total)


def _jsonl(model: str, requests: list[BatchRequest]) -> bytes:
    name = model.split("/", 1)[1]
    buf = io.BytesIO()
    for r in requests:
        line = {
            "custom_id": r.custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": {"model": name, "messages": r.messages, "max_tokens": r.max_tokens},
        }
        buf.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return buf.getvalue()


def submit_batch(
    ctx: CallContext,
    requests: list[BatchRequest],
    *,
    key: str,
    alias: str = "fast",
    metadata: dict[str, str] | None = None,
) -> BatchHandle:
    """Reserve the estimate, upload the JSONL and create the batch, at most once per
    ``key`` (at most 64 characters, unique per tenant and submission: a job's id and
    attempt). Raises GatewayError (``invalid_request`` for bad input or a provider that
    rejects the batch, ``budget_exceeded``); on any failure the reservation is released.

    A caller killed after the provider accepted the batch and before it stored the
    handle calls again with the same key: the reservation is found (not made twice) and
    the batch is looked up by its ``idempotency_key`` metadata instead of sent again."""
    if not requests:
        raise GatewayError("invalid_request", "A batch needs at least one request.")
    if len(requests) > MAX_REQUESTS:
        raise GatewayError("invalid_request", f"A batch holds at most {MAX_REQUESTS:,} requests.")
    if not key or len(key) > 64:
        raise GatewayError("invalid_request", "A batch key must be 1 to 64 characters.")
    deployment = _deployment(alias)
    if not supports_batches(alias):
        raise GatewayError(
            "invalid_request", f"{deployment.model} has no batch API: use run_inline."
        )
    estimate = estimate_usd(deployment.model, requests)
    nanos, month, repeat = _reserve(ctx, estimate, key)
    handle = BatchHandle("", deployment.model, nanos, month, str(estimate), key)
    litellm = router.litellm_module()
    creds = _credentials(deployment)
    try:
        found = _find_batch(creds, key) if repeat else None
        if found is not None:
            batch = found
        else:
            upload = litellm.create_file(
                file=("batch.jsonl", _jsonl(deployment.model, requests)), purpose="batch", **creds
            )
            batch = litellm.create_batch(
                completion_window="24h",
                endpoint=ENDPOINT,
                input_file_id=upload.id,
                metadata={**(metadata or {}), "idempotency_key": key},
                **creds,
            )
    except Exception as exc:
        settle_batch(ctx, handle, Decimal(0))
        raise GatewayError(
            "invalid_request",
            f"The provider rejected the batch: {_message(exc)}. Nothing was charged.",
        ) from exc
    if batch.status == "failed":
        settle_batch(ctx, handle, Decimal(0))
        raise GatewayError(
            "invalid_request",
            f"The provider rejected the batch: {_batch_errors(batch)}. Nothing was charged.",
        )
    return BatchHandle(str(batch.id), deployment.model, nanos, month, str(estimate), key)


FIND_PAGES = 20  # 2,000 batches back: far more than one organisation's last few days


def _find_batch(creds: dict[str, Any], key: str) -> Any | None:
    """The provider's batch created with ``idempotency_key`` = key, newest first, if any
    (OpenAI's list has no metadata filter: page back through recent batches)."""
    litellm = router.litellm_module()
    after: str | None = None
    for _ in range(FIND_PAGES):
        page = litellm.list_batches(after=after, limit=100, **creds)
        batches = list(getattr(page, "data", None) or [])
        for batch in batches:
            if (getattr(batch, "metadata", None) or {}).get("idempotency_key") == key:
                return batch
        if not batches or not getattr(page, "has_more", False):
            return None
        after = str(batches[-1].id)
    return None


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", "") or exc).strip()[:300]


def _batch_errors(batch: Any) -> str:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    messages = [str(getattr(e, "message", "") or "") for e in data]
    return "; ".join(m for m in messages if m) or f"batch {batch.status}"


def _deployment_for(model: str) -> router.Deployment:
    for d in router.configured_deployments():
        if d.model == model:
            return d
    raise GatewayError("invalid_request", f"{model} is no longer configured.")


def poll_batch(handle: BatchHandle) -> BatchStatus:
    litellm = router.litellm_module()
    creds = _credentials(_deployment_for(handle.model))
    batch = litellm.retrieve_batch(batch_id=handle.batch_id, **creds)
    counts = batch.request_counts
    raw = str(batch.status)
    # validating, finalizing and cancelling count as in progress
    state = cast(BatchState, raw if raw in _ENDED else "in_progress")
    return BatchStatus(
        state=state,
        total=int(getattr(counts, "total", 0) or 0),
        completed=int(getattr(counts, "completed", 0) or 0),
        failed=int(getattr(counts, "failed", 0) or 0),
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        error=_batch_errors(batch) if state == "failed" else "",
    )


def cancel_batch(handle: BatchHandle) -> BatchStatus:
    litellm = router.litellm_module()
    creds = _credentials(_deployment_for(handle.model))
    litellm.cancel_batch(batch_id=handle.batch_id, **creds)
    return poll_batch(handle)


def _lines(handle: BatchHandle, file_id: str) -> Iterator[bytes]:
    """The file's lines, read in chunks (never the whole file in memory)."""
    litellm = router.litellm_module()
    creds = _credentials(_deployment_for(handle.model))
    content = litellm.file_content(file_id=file_id, stream=True, chunk_size=CONTENT_CHUNK, **creds)
    # stream=True answers (stream_iterator, headers); chunks come as the body arrives.
    chunks = getattr(content, "stream_iterator", content)
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _parse_line(model: str, raw: bytes) -> BatchResult:
    line = json.loads(raw)
    custom_id = str(line.get("custom_id"))
    error = line.get("error")
    response = line.get("response") or {}
    if error:
        code = str(error.get("code") or "")
        return BatchResult(
            custom_id,
            ok=False,
            error=str(error.get("message") or code or "failed"),
            retryable=code in ("batch_expired", "batch_cancelled"),
        )
    body = response.get("body") or {}
    if response.get("status_code") != 200:
        message = (body.get("error") or {}).get("message") or "failed"
        return BatchResult(custom_id, ok=False, error=str(message), retryable=True)
    usage = body.get("usage") or {}
    tokens_in = int(usage.get("prompt_tokens") or 0)
    tokens_out = int(usage.get("completion_tokens") or 0)
    choices = body.get("choices") or [{}]
    text = str(((choices[0] or {}).get("message") or {}).get("content") or "")
    return BatchResult(
        custom_id,
        ok=True,
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=batch_price(model, tokens_in, tokens_out),
    )


def iter_results(handle: BatchHandle, status: BatchStatus) -> Iterator[BatchResult]:
    """Every answered and failed line of an ended batch, streamed from its output and
    error files. Lines that did not run (expired, cancelled, failed) are ``retryable``."""
    for file_id in (status.output_file_id, status.error_file_id):
        if file_id:
            for raw in _lines(handle, file_id):
                yield _parse_line(handle.model, raw)


def record_batch_usage(ctx: CallContext, model: str, result: BatchResult) -> bool:
    """One ledger row (and outbox row) for an answered item, keyed by its custom_id in
    ``request_id``: returns False, writing nothing, when that item is already recorded.
    Call inside the transaction that stores the item's result."""
    if not result.ok:
        return False
    with tenant_context(ctx.tenant_id):
        exists = UsageRecord.objects.filter(
            tenant_id=ctx.tenant_id, feature=ctx.feature, request_id=result.custom_id
        ).exists()
    if exists:
        return False
    entry = ledger.LedgerEntry(
        ctx=CallContext(
            tenant_id=ctx.tenant_id,
            feature=ctx.feature,
            user_id=ctx.user_id,
            api_key_id=ctx.api_key_id,
            request_id=result.custom_id,
        ),
        requested_model=model,
        served_model=model,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost_usd=result.cost_usd,
        status=CallStatus.OK,
        batch=True,
    )
    ledger.record_sync(entry)
    return True


INLINE_CONCURRENCY = 8


async def _inline_group(
    ctx: CallContext, alias: str, requests: list[BatchRequest]
) -> list[BatchResult]:
    from apps.gateway.completion import complete  # the pipeline, with its own ledger rows

    semaphore = asyncio.Semaphore(INLINE_CONCURRENCY)

    async def one(r: BatchRequest) -> BatchResult:
        item_ctx = CallContext(
            ctx.tenant_id, ctx.feature, ctx.user_id, ctx.api_key_id, request_id=r.custom_id
        )
        async with semaphore:
            try:
                done = await complete(
                    item_ctx, r.messages, alias=alias, max_tokens=r.max_tokens, cascade=False
                )
            except GatewayError as exc:
                return BatchResult(r.custom_id, ok=False, error=exc.message, retryable=True)
        return BatchResult(
            r.custom_id,
            ok=True,
            text=done.content,
            tokens_in=done.tokens_in,
            tokens_out=done.tokens_out,
            cost_usd=done.cost_usd,
        )

    return list(await asyncio.gather(*(one(r) for r in requests)))


def run_inline(
    ctx: CallContext, requests: list[BatchRequest], *, alias: str = "fast"
) -> Iterator[BatchResult]:
    """The fallback for providers without a batch API: ordinary calls on the cheap alias,
    ``INLINE_CONCURRENCY`` at a time, yielded group by group. Each call is charged by the
    pipeline at the real-time price (its ledger row carries the custom_id), so callers
    must not call ``record_batch_usage`` for these results."""
    alias = router.CHEAPER.get(alias, alias)
    group = INLINE_CONCURRENCY * 4
    for start in range(0, len(requests), group):
        yield from async_to_sync(_inline_group)(ctx, alias, requests[start : start + group])
