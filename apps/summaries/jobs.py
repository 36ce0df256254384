"""Summary jobs: start (validated, queued on commit), submit, poll, collect, cancel.

Each step runs in one ``tenant_context`` transaction that first locks its job with
``select_for_update(skip_locked=True)`` and checks its state, so a step repeated by a
redelivered task, or run by two workers at once, does its work once: collecting a
batch's results, their ledger rows and the job's new state commit together or not at
all (a worker killed mid-way leaves the job as it was, and the next poll collects it
again from the provider's output file). Running jobs are listed in a Redis set that the
beat poller reads; when that set is lost (a Valkey restarted without its data) the poller
rebuilds it from one indexed scan of unfinished jobs (docs/summaries.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from apps.core.db import setting_context, tenant_context
from apps.core.errors import ServiceError
from apps.core.redis_client import sync_redis
from apps.gateway import api as gateway
from apps.gateway.api import count_text_tokens as count_tokens
from apps.gateway.types import CallContext, GatewayError
from apps.rag.models import Chunk, Document, DocumentStatus
from apps.summaries.models import (
    ENDED,
    DocumentSummary,
    ItemKind,
    ItemStatus,
    JobStatus,
    SummaryItem,
    SummaryJob,
)
from apps.tenants.models import Notification, Tenant

FEATURE = "batch_summary"
ACTIVE_KEY = "summaries:active"  # members "<tenant_id>:<job_id>", and SENTINEL
# Added by the poller after a database scan, never removed: a set without it was lost (or
# never scanned), and is rebuilt from the database.
SENTINEL = "-"
PLATFORM_JOB = "summaries_poll"  # app.platform_job value that may read unfinished jobs' ids
MAX_ATTEMPTS = 3
INLINE = "inline"  # submit's and poll's answer: the caller goes on with run_inline
INLINE_GROUP = 32  # items per transaction on the no-batch-API path
MAX_TOKENS = 300
WINDOW_MARGIN = 256  # the instruction, message framing and counting differences
PER_JOB_LIMIT = {"free": 20, "pro": 1_000, "enterprise": 10_000}
DEFAULT_INSTRUCTION = (
    "Summarise the following text in three to five sentences for a busy reader. "
    "Keep names, numbers and dates exact."
)
COMBINE_INSTRUCTION = (
    "These are summaries of consecutive parts of one document. Combine them into one "
    "summary of the whole document, following this instruction: "
)


class JobError(ServiceError):
    """Bad input for a job: the message says what to do."""

    code = "invalid_request"


class BudgetTooSmall(JobError):
    """The job's estimate does not fit what is left of the monthly budget."""

    code = "budget_exceeded"


def _ctx(job: SummaryJob) -> CallContext:
    return CallContext(
        tenant_id=str(job.tenant_id),
        feature=FEATURE,
        user_id=job.created_by_id,
        api_key_id=job.api_key_id,
    )


def _request(
    custom_id: str, instruction: str, text: str, kind: str = ItemKind.SINGLE
) -> gateway.BatchRequest:
    system = instruction or DEFAULT_INSTRUCTION
    if kind == ItemKind.COMBINE:
        system = COMBINE_INSTRUCTION + system
    return gateway.BatchRequest(
        custom_id=custom_id,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
        max_tokens=MAX_TOKENS,
    )


def _item_request(job: SummaryJob, item: SummaryItem) -> gateway.BatchRequest:
    return _request(item.custom_id, job.instruction, item.source_text, item.kind)


def _check_budget(tenant: Tenant, user_id: int | None, instruction: str, texts: list[str]) -> None:
    """Refuse, before anything is queued, a job whose estimate the budget cannot cover."""
    ctx = CallContext(tenant_id=str(tenant.id), feature=FEATURE, user_id=user_id)
    requests = [_request(str(i), instruction, text) for i, text in enumerate(texts)]
    try:
        gateway.check_budget(ctx, requests)
    except GatewayError as exc:
        if exc.code == "budget_exceeded":
            raise BudgetTooSmall(exc.message) from exc
        raise JobError(exc.message) from exc


def source_budget() -> int:
    """Passage tokens one request may carry: the cheap model's window less the answer
    and a margin for the instruction."""
    return max(256, gateway.context_window() - MAX_TOKENS - WINDOW_MARGIN)


def _passage_groups(document: Document) -> list[tuple[str, list[str]]]:
    """The document's passages in reading order, in groups that each fit one request:
    one group when the whole document fits, else the parts of a map-reduce."""
    budget = source_budget()
    groups: list[tuple[list[str], list[str]]] = [([], [])]
    used = 0
    for chunk in (
        Chunk.objects.filter(document=document)
        .order_by("ordinal")
        .only("id", "content", "token_count")
    ):
        texts, ids = groups[-1]
        if texts and used + chunk.token_count > budget:
            groups.append(([], []))
            texts, ids, used = *groups[-1], 0
        texts.append(chunk.content)
        ids.append(str(chunk.id))
        used += chunk.token_count
    return [("\n\n".join(texts), ids) for texts, ids in groups]


# What a job summarises: a document (or None for an inline text) and its passage groups,
# each (text, chunk ids): one group, or the parts of a map-reduce.
Source = tuple[Document | None, list[tuple[str, list[str]]]]


def _items(tenant: Tenant, job: SummaryJob, sources: list[Source]) -> list[SummaryItem]:
    """One item per source (ordinals 0..n-1, the order of results); a source of several
    passage groups gets a waiting combine item there and its map items after all of them."""
    answers: list[SummaryItem] = []
    parts: list[SummaryItem] = []
    for document, groups in sources:
        if len(groups) == 1:
            text, chunk_ids = groups[0]
            answers.append(
                SummaryItem(
                    tenant=tenant,
                    job=job,
                    document=document,
                    ordinal=len(answers),
                    source_text=text,
                    chunk_ids=chunk_ids,
                )
            )
            continue
        combine = SummaryItem(
            tenant=tenant,
            job=job,
            document=document,
            kind=ItemKind.COMBINE,
            status=ItemStatus.WAITING,
            ordinal=len(answers),
            chunk_ids=[c for _, ids in groups for c in ids],
        )
        answers.append(combine)
        parts += [
            SummaryItem(
                tenant=tenant,
                job=job,
                document=document,
                kind=ItemKind.MAP,
                parent=combine,
                source_text=text,
                chunk_ids=chunk_ids,
            )
            for text, chunk_ids in groups
        ]
    for i, part in enumerate(parts, start=len(answers)):
        part.ordinal = i
    return answers + parts


def start_job(
    tenant: Tenant,
    *,
    user_id: int | None = None,
    api_key_id: uuid.UUID | None = None,
    document_ids: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    instruction: str = "",
    on_commit: Callable[[SummaryJob], object] | None = None,
) -> SummaryJob:
    """Validate and create a job with its items; it is queued when the transaction
    commits. Raises JobError for an empty selection, documents not ready, unknown or
    foreign ids (the same message: another tenant's ids are not found) or too many."""
    limit = PER_JOB_LIMIT.get(tenant.plan, PER_JOB_LIMIT["free"])
    sources: list[Source] = []
    with tenant_context(tenant.id):
        if texts:
            if any(not t.strip() for t in texts):
                raise JobError("Every text must have some content.")
            too_long = [i for i, t in enumerate(texts) if count_tokens(t) > source_budget()]
            if too_long:
                raise JobError(
                    f"Text {too_long[0] + 1} is longer than the model takes in one request "
                    f"({source_budget():,} tokens): split it, or upload it as a document, "
                    "which is summarised in parts."
                )
            sources = [(None, [(t, [])]) for t in texts]
        elif document_ids:
            wanted = list(dict.fromkeys(str(d) for d in document_ids))
            if len(wanted) > limit:
                raise JobError(_too_many(len(wanted), limit, tenant.plan))
            try:
                documents = {
                    str(d.id): d
                    for d in Document.objects.shared().filter(tenant_id=tenant.id, id__in=wanted)
                }
            except Exception as exc:  # a malformed UUID
                raise JobError("Document ids must be UUIDs.") from exc
            missing = [d for d in wanted if d not in documents]
            if missing:
                raise JobError(f"No such document: {', '.join(missing[:5])}.")
            not_ready = [d for d in documents.values() if d.status != DocumentStatus.READY]
            if not_ready:
                names = ", ".join(f"{d.title} ({d.status})" for d in not_ready[:5])
                raise JobError(
                    f"Only ingested documents can be summarised; not ready: {names}. "
                    "Wait for ingestion to finish, or re-ingest failed ones."
                )
            sources = [(d, _passage_groups(d)) for d in documents.values()]
        if not sources:
            raise JobError("Choose at least one document (or send at least one text).")
        if len(sources) > limit:
            raise JobError(_too_many(len(sources), limit, tenant.plan))
        # The combine steps are estimated (and reserved) when they are sent.
        _check_budget(
            tenant, user_id, instruction.strip(), [t for _, groups in sources for t, _ in groups]
        )
        job = SummaryJob.objects.create(
            tenant=tenant,
            created_by_id=user_id,
            api_key_id=api_key_id,
            instruction=instruction.strip(),
            total=len(sources),
        )
        rows = _items(tenant, job, sources)
        SummaryItem.objects.bulk_create([r for r in rows if r.kind != ItemKind.MAP])
        SummaryItem.objects.bulk_create([r for r in rows if r.kind == ItemKind.MAP])
        member = f"{tenant.id}:{job.id}"
        # No sentinel here: only a poller that has scanned the database adds it.
        transaction.on_commit(lambda: sync_redis().sadd(ACTIVE_KEY, member))
        if on_commit is not None:
            transaction.on_commit(lambda: on_commit(job))
    return job


def _failures(job: SummaryJob) -> str:
    return f"{job.failed} of {job.total} could not be summarised." if job.failed else ""


def _too_many(count: int, limit: int, plan: str) -> str:
    return (
        f"{count} items is more than the {plan} plan allows in one job ({limit}). "
        "Summarise them in smaller selections."
    )


def _locked(job_id: str) -> SummaryJob | None:
    return SummaryJob.objects.select_for_update(skip_locked=True).filter(id=job_id).first()


def _end(job: SummaryJob, status: str, reason: str = "") -> None:
    job.status = status
    job.reason = reason
    job.ended_at = timezone.now()
    job.save()
    sync_redis().srem(ACTIVE_KEY, f"{job.tenant_id}:{job.id}")
    if status != JobStatus.CANCELLED:  # whoever cancelled knows
        _notify(job)


def _notify(job: SummaryJob) -> None:
    """An in-app notification for the organisation's admins, and an email to whoever
    started the job, sent once the job's end has committed."""
    from apps.summaries.tasks import send_job_email

    if job.status == JobStatus.DONE:
        title = f"Summaries ready: {job.done} of {job.total}"
        level = "warning" if job.failed else "success"
    else:
        title, level = "A summary job failed", "error"
    saved = job.realtime_cost_usd - job.cost_usd
    body = f"Cost ${job.cost_usd:,.4f}"
    if saved > 0:
        body += f", ${saved:,.4f} less than in real time"
    body += "." + (f" {job.reason}" if job.reason else "")
    note = Notification.objects.create(
        tenant_id=job.tenant_id, kind="summaries.job", level=level, title=title, body=body
    )
    if job.created_by_id is not None:
        tenant_id, job_id, note_id = str(job.tenant_id), str(job.id), str(note.id)
        transaction.on_commit(
            lambda: send_job_email.delay(
                tenant_id=tenant_id, job_id=job_id, notification_id=note_id
            )
        )


def submission_key(job: SummaryJob) -> str:
    """The idempotency key of the job's next submission: the same until a submission
    commits (a redelivered task finds the batch the killed one sent), new per attempt."""
    return f"summaries:{job.id}:{job.attempts + 1}"


def submit(tenant_id: str, job_id: str, *, metadata: dict[str, str] | None = None) -> str:
    """Send the job's pending items as one provider batch. Returns the job's status."""
    with tenant_context(tenant_id):
        job = _locked(job_id)
        if job is None or job.status != JobStatus.QUEUED:
            return "skipped"
        if not gateway.supports_batches():
            # No batch API: ordinary calls, group by group, outside this lock (run_inline).
            job.batch = {"inline": True}
            job.attempts += 1
            job.status = JobStatus.SUBMITTED
            job.save()
            return INLINE
        items = list(job.items.filter(status=ItemStatus.PENDING))
        requests = [_item_request(job, item) for item in items]
        try:
            handle = gateway.submit_batch(
                _ctx(job), requests, key=submission_key(job), metadata=metadata
            )
        except GatewayError as exc:
            _end(job, JobStatus.FAILED, exc.message)
            return str(job.status)
        job.batch = handle.as_dict()
        job.attempts += 1
        job.status = JobStatus.SUBMITTED
        job.save()
        return str(job.status)


def _store(
    job: SummaryJob, item: SummaryItem, result: gateway.BatchResult, *, realtime: Decimal
) -> None:
    """An answered item: its summary and cost, the job's totals, the document's summary."""
    item.status = ItemStatus.DONE
    item.summary = result.text
    item.tokens_in, item.tokens_out = result.tokens_in, result.tokens_out
    item.cost_usd = result.cost_usd
    item.error = ""
    item.save()
    job.cost_usd += result.cost_usd
    job.realtime_cost_usd += realtime
    if item.kind == ItemKind.MAP:  # a part: its combine item is the document's answer
        return
    job.done += 1
    if item.document_id is not None:
        DocumentSummary.objects.update_or_create(
            document_id=item.document_id,
            defaults={
                "tenant_id": job.tenant_id,
                "item": item,
                "text": result.text,
                "chunk_ids": item.chunk_ids,
            },
        )


def _promote(job: SummaryJob) -> int:
    """Combine items whose parts have all been answered get their parts' summaries as
    text and become pending (they go in the next batch); one whose part failed for good
    fails. Returns how many became pending."""
    promoted = 0
    in_order = Prefetch("parts", queryset=SummaryItem.objects.order_by("ordinal"))
    for combine in job.items.filter(status=ItemStatus.WAITING).prefetch_related(in_order):
        parts = list(combine.parts.all())
        if any(p.status == ItemStatus.FAILED for p in parts):
            combine.status = ItemStatus.FAILED
            combine.error = "A part of the document could not be summarised."
            combine.save(update_fields=["status", "error", "updated_at"])
            job.failed += 1
        elif all(p.status == ItemStatus.DONE for p in parts):
            combine.source_text = "\n\n".join(
                f"Part {i} of {len(parts)}:\n{p.summary}" for i, p in enumerate(parts, start=1)
            )
            combine.status = ItemStatus.PENDING
            combine.save(update_fields=["source_text", "status", "updated_at"])
            promoted += 1
    return promoted


def _fail_unfinished(job: SummaryJob) -> None:
    """The job ends: every item not answered fails (parts count once, in their combine)."""
    rest = job.items.filter(status__in=(ItemStatus.PENDING, ItemStatus.WAITING))
    job.failed += rest.exclude(kind=ItemKind.MAP).count()
    rest.update(status=ItemStatus.FAILED)


def poll(tenant_id: str, job_id: str) -> str:
    """Move a submitted job along: when its batch has ended, collect every line (upsert
    by custom_id, one ledger row per answered item), settle the budget, then resubmit
    what did not run (bounded) or end the job."""
    with tenant_context(tenant_id):
        job = _locked(job_id)
        if job is not None and job.status == JobStatus.QUEUED:
            return str(job.status)  # its submission was lost or is waiting: submit again
        if job is None or job.status != JobStatus.SUBMITTED or not job.batch:
            return "skipped"
        if job.batch.get("inline"):
            return INLINE  # a run killed mid-way: the caller resumes it with run_inline
        handle = gateway.BatchHandle.from_dict(job.batch)
        status = gateway.poll_batch(handle)
        if not status.ended:
            return str(job.status)
        ctx = _ctx(job)
        cost = Decimal(0)
        items = {item.custom_id: item for item in job.items.filter(status=ItemStatus.PENDING)}
        retry = False
        for result in gateway.iter_results(handle, status):
            item = items.get(result.custom_id)
            if item is None:
                continue  # already collected
            if result.ok:
                realtime = gateway.realtime_cost_usd(
                    handle.model, result.tokens_in, result.tokens_out
                )
                _store(job, item, result, realtime=realtime)
                gateway.record_batch_usage(ctx, handle.model, result)
                cost += result.cost_usd
            else:
                item.error = result.error
                item.save(update_fields=["error", "updated_at"])
                retry = retry or result.retryable
        gateway.settle_batch(ctx, handle, cost)
        job.batch = None
        if status.state == "cancelled":
            _fail_unfinished(job)
            job.save()
            _end(job, JobStatus.DONE if job.done else JobStatus.FAILED, _failures(job))
            return str(job.status)
        # Retries are bounded per step: a combine step (a second batch) starts afresh.
        promoted = _promote(job)
        pending = job.items.filter(status=ItemStatus.PENDING)
        if status.state == "failed" and not job.done and not promoted:
            _fail_unfinished(job)
            job.save()
            _end(job, JobStatus.FAILED, status.error or "The provider failed the batch.")
        elif pending.exists() and (promoted or job.attempts < MAX_ATTEMPTS):
            job.status = JobStatus.QUEUED
            job.save()
        else:
            _fail_unfinished(job)  # with the combines still waiting for a part
            job.save()
            _end(job, JobStatus.DONE if job.done else JobStatus.FAILED, _failures(job))
        return str(job.status)


def run_inline(tenant_id: str, job_id: str) -> str:
    """A job on a provider without a batch API: its pending items answered by ordinary
    calls on the cheap alias (``gateway.run_inline``, a few at a time), one group per
    short transaction that locks the job, so a cancel or a second worker stops it between
    groups and a killed worker's redelivery (or the next poll) resumes at the first item
    not stored. Each call is in the ledger at the real-time price (the pipeline writes it,
    keyed by the item's custom_id), so the job shows no saving. The pipeline writes those
    rows through this thread's connection, inside the group's transaction, so a worker
    killed before the group commits leaves neither the answers nor their charges."""
    while True:
        with tenant_context(tenant_id):
            job = _locked(job_id)
            if (
                job is None
                or job.status != JobStatus.SUBMITTED
                or not (job.batch or {}).get("inline")
            ):
                return "skipped" if job is None else str(job.status)
            items = list(job.items.filter(status=ItemStatus.PENDING)[:INLINE_GROUP])
            if not items and _promote(job):
                job.save()
                continue
            if not items:
                job.batch = None
                job.save()
                _end(job, JobStatus.DONE if job.done else JobStatus.FAILED, _failures(job))
                return str(job.status)
            by_id = {item.custom_id: item for item in items}
            requests = [_item_request(job, item) for item in items]
            for result in gateway.run_inline(_ctx(job), requests):
                item = by_id[result.custom_id]
                if result.ok:
                    _store(job, item, result, realtime=result.cost_usd)
                else:  # the pipeline already retried and fell back: this one failed
                    item.status = ItemStatus.FAILED
                    item.error = result.error
                    item.save(update_fields=["status", "error", "updated_at"])
                    job.failed += item.kind != ItemKind.MAP
            job.save()


def cancel(tenant_id: str, job_id: str) -> str:
    """Stop a job: its batch is cancelled and nothing more is charged (items already
    collected keep their summaries and their cost)."""
    with tenant_context(tenant_id):
        job = SummaryJob.objects.select_for_update().filter(id=job_id).first()
        if job is None:
            raise JobError("No such job.")
        if job.status in ENDED:
            return str(job.status)
        if job.batch and not job.batch.get("inline"):  # inline: stops before its next group
            handle = gateway.BatchHandle.from_dict(job.batch)
            gateway.cancel_batch(handle)
            gateway.settle_batch(_ctx(job), handle, Decimal(0))
        job.batch = None
        job.items.filter(status__in=(ItemStatus.PENDING, ItemStatus.WAITING)).update(
            status=ItemStatus.FAILED
        )
        _end(job, JobStatus.CANCELLED, "Cancelled.")
        return str(job.status)


def active_jobs() -> list[tuple[str, str]]:
    """(tenant_id, job_id) of every running job, for the beat poller: the Redis set, or,
    when the set has lost its sentinel, the database's unfinished jobs (re-listed)."""
    redis = sync_redis()
    members = {m.decode() if isinstance(m, bytes) else str(m) for m in redis.smembers(ACTIVE_KEY)}
    if SENTINEL not in members:
        members = {f"{t}:{j}" for t, j in unfinished_jobs()}
        redis.sadd(ACTIVE_KEY, SENTINEL, *members)
    out = []
    for raw in sorted(members - {SENTINEL}):
        tenant_id, _, job_id = raw.partition(":")
        out.append((tenant_id, job_id))
    return out


def unfinished_jobs() -> list[tuple[str, str]]:
    """Every queued or submitted job of every tenant (ids only), read under the
    ``summaries_poll`` platform policy (SELECT only; each job is then worked on in its
    own tenant's context)."""
    with setting_context({"app.platform_job": PLATFORM_JOB}):
        rows = SummaryJob.objects.filter(
            status__in=(JobStatus.QUEUED, JobStatus.SUBMITTED)
        ).values_list("tenant_id", "id")
        return [(str(t), str(j)) for t, j in rows]
