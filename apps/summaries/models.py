"""Summary jobs, their items and documents' summaries: tenant data under row-level security.

A SummaryJob is one request to summarise (documents, or inline texts from the API); each
of its SummaryItems is one request line of a provider batch, keyed by ``custom_id`` (the
item's id), so reading a batch's output twice upserts the same rows (docs/summaries.md).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.core.models import TenantScopedModel


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ENDED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    WAITING = "waiting", "Waiting for its parts"  # a combine item until its maps are done
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ItemKind(models.TextChoices):
    """A text that fits the model's window is one ``single`` item. A longer document is
    map-reduced: ``map`` items summarise passage groups that each fit, then its
    ``combine`` item summarises their summaries (docs/summaries.md)."""

    SINGLE = "single", "Whole text"
    MAP = "map", "Passage group"
    COMBINE = "combine", "Combined parts"


class SummaryJob(TenantScopedModel):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_id = models.UUIDField(null=True, blank=True)
    instruction = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    reason = models.TextField(blank=True)
    # The provider batch now running (BatchHandle.as_dict()), and how many were sent.
    batch = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    realtime_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=("tenant", "-created_at"), name="summaryjob_tenant_idx"),
            models.Index(fields=("status",), name="summaryjob_status_idx"),
        ]

    def __str__(self) -> str:
        return f"summary job {self.id} ({self.status})"

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def saved_usd(self) -> Decimal:
        """What the batch price saved against the same tokens at the real-time price."""
        return self.realtime_cost_usd - self.cost_usd


class SummaryItem(TenantScopedModel):
    """One text to summarise: a document (its passages) or an inline text."""

    job = models.ForeignKey(SummaryJob, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=8, choices=ItemKind.choices, default=ItemKind.SINGLE)
    # A map item's combine item.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="parts"
    )
    document = models.ForeignKey(
        "rag.Document", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ordinal = models.PositiveIntegerField()
    source_text = models.TextField(blank=True)
    # The passages (chunk ids) the text was built from, for links on the summary.
    chunk_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))

    class Meta:
        ordering = ("job", "ordinal")
        constraints = [
            models.UniqueConstraint(fields=("job", "ordinal"), name="summaryitem_unique_ordinal")
        ]

    def __str__(self) -> str:
        return f"summary item {self.ordinal} of {self.job_id}"

    @property
    def custom_id(self) -> str:
        return str(self.id)


class DocumentSummary(TenantScopedModel):
    """A document's latest summary, shown on its page and in search results."""

    document = models.OneToOneField(
        "rag.Document", on_delete=models.CASCADE, related_name="summary"
    )
    item = models.ForeignKey(SummaryItem, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    chunk_ids = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"summary of {self.document_id}"
