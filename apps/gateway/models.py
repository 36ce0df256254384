"""The gateway's tables: per-tenant AI settings, the usage ledger, the semantic cache.

All three are tenant data under row-level security (see the migrations)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.core.models import TenantScopedModel


class ModelAlias(models.TextChoices):
    FAST = "fast", "Fast (cheaper, quicker)"
    SMART = "smart", "Smart (stronger reasoning)"


class BudgetAction(models.TextChoices):
    DOWNGRADE = "downgrade", "Switch to the cheaper model"
    THROTTLE = "throttle", "Slow down to a few requests a minute"
    NOTIFY = "notify", "Only notify admins"
    BLOCK = "block", "Block AI calls until next month"


class AISettings(TenantScopedModel):
    model_alias = models.CharField(
        max_length=20, choices=ModelAlias.choices, default=ModelAlias.FAST
    )
    system_prompt = models.TextField(
        max_length=8000,
        blank=True,
        default="You are a helpful assistant. Answer concisely and say when you are unsure.",
    )
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.70"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("2"))],
    )
    max_tokens = models.PositiveIntegerField(
        default=1024, validators=[MinValueValidator(16), MaxValueValidator(32_000)]
    )

    cascade_enabled = models.BooleanField(
        "Try the cheaper model first",
        default=False,
        help_text="For background features: escalate to the stronger model when the cheaper "
        "one fails or is unsure.",
    )
    cache_enabled = models.BooleanField("Reuse answers to repeated questions", default=True)
    semantic_threshold = models.DecimalField(
        "Similarity needed to reuse an answer",
        max_digits=3,
        decimal_places=2,
        # The floor the cache's decision was tuned with (cache_verifier/decision_model.json).
        default=Decimal("0.55"),
        validators=[MinValueValidator(Decimal("0.50")), MaxValueValidator(Decimal("1.00"))],
        help_text="1.00 reuses only identical questions. Every reuse is also checked: numbers, "
        "names, negations, languages, who does what to whom and qualifiers must agree, and a "
        "scorer must be sure the two questions ask the same thing.",
    )
    rag_enabled = models.BooleanField(
        "Answer from the organisation's documents",
        default=False,
        help_text="Chat retrieves passages from your documents and cites them as [n].",
    )
    rag_top_k = models.PositiveSmallIntegerField(
        "Passages per answer",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="How many passages are retrieved and put into the prompt.",
    )
    monthly_budget_usd = models.DecimalField(
        "Monthly AI budget (USD)",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Leave empty to use the plan's budget.",
    )
    budget_action = models.CharField(
        "At 100% of the budget",
        max_length=10,
        choices=BudgetAction.choices,
        default=BudgetAction.DOWNGRADE,
    )
    # The guardrail policy (apps/guardrails/policy.py ``Policy.to_dict``): one JSON value
    # beside the other settings, read with them in one row and cached with them in the
    # resolved configuration. Empty means the defaults.
    guardrails = models.JSONField(default=dict, blank=True)
    # Shown on an empty chat (a list of texts, validated by AISettingsForm); empty means
    # the defaults in apps/chat/selectors.py.
    suggested_prompts = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tenant",), name="ai_settings_one_per_tenant")
        ]

    def __str__(self) -> str:
        return f"AI settings for {self.tenant_id}"


class CacheKind(models.TextChoices):
    NONE = "", "None"
    EXACT = "exact", "Exact"
    SEMANTIC = "semantic", "Semantic"


class CallStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    ABORTED = "aborted", "Aborted by the client"
    CUT = "cut", "Cut by the provider"
    BLOCKED = "blocked", "Stopped by a guardrail"


class UsageRecord(TenantScopedModel):
    """One row per provider call or cache hit: the per-tenant cost ledger."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_id = models.UUIDField(null=True, blank=True)
    feature = models.CharField(max_length=40)
    request_id = models.CharField(max_length=64, blank=True)
    requested_model = models.CharField(max_length=100)
    served_model = models.CharField(max_length=200, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    cache = models.CharField(max_length=10, choices=CacheKind.choices, blank=True, default="")
    saved_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    status = models.CharField(max_length=10, choices=CallStatus.choices, default=CallStatus.OK)
    error_code = models.CharField(max_length=40, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    # An item answered through a provider's Batch API, at its discount (batch.py
    # record_batch_usage): the FinOps savings count these.
    batch = models.BooleanField(default=False, db_default=False)

    class Meta:
        indexes = [models.Index(fields=("tenant", "created_at"), name="usage_tenant_created_idx")]

    def __str__(self) -> str:
        return f"{self.feature} {self.served_model or self.requested_model} {self.status}"


class UsageOutbox(models.Model):
    """Billable tokens of one ledger row, waiting to be metered (apps/billing drains it).

    Written in the same transaction as its ``UsageRecord`` (``ledger.record_sync``), so a
    billable row cannot exist without its entry; the drain turns entries into meter
    batches and deletes them in one transaction, so each is metered once. Tenant data,
    under RLS; the drain finds the tenants with entries through the SELECT-only policy
    ``read_also`` (``app.platform_job = 'meter_drain'``), then works in each tenant's
    context. A plain bigint key keeps entries in insertion order for the drain.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    usage_record = models.OneToOneField(UsageRecord, on_delete=models.CASCADE, related_name="+")
    tokens = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=("tenant", "id"), name="usage_outbox_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.tokens} tokens of {self.usage_record_id}"


class SemanticCacheEntry(TenantScopedModel):
    """A question and its answer, found again by meaning (cosine on the embedding)."""

    model_alias = models.CharField(max_length=40)
    system_prompt_hash = models.CharField(max_length=64)
    query = models.TextField()
    embedding = VectorField(dimensions=settings.EMBEDDING_DIM)
    response = models.TextField()
    served_model = models.CharField(max_length=200)
    tokens_in = models.PositiveIntegerField()
    tokens_out = models.PositiveIntegerField()
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8)

    class Meta:
        indexes = [
            HnswIndex(
                name="semcache_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(
                fields=("tenant", "model_alias", "system_prompt_hash"), name="semcache_key_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.query[:60]


class SemanticCacheHit(TenantScopedModel):
    """One answer served from the semantic cache: which entry, for which question.

    Written with the hit's ledger row (``ledger.record_sync``), so a user or admin who
    finds the answer wrong can report it (``services.report_cache_hit``): the entry is
    deleted and this row, the pair of questions, is kept for the tenant's own evaluation
    (``reported_at`` set; downloadable as ``manage.py cache_decide`` input).
    """

    usage_record = models.OneToOneField(UsageRecord, on_delete=models.CASCADE, related_name="+")
    entry_id = models.UUIDField()  # no foreign key: a report deletes the entry, not this row
    cached_query = models.TextField()
    query = models.TextField()
    similarity = models.FloatField()
    reported_at = models.DateTimeField(null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_via = models.CharField(max_length=10, blank=True)  # "chat" | "api" | "admin"
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=("tenant", "-reported_at"),
                name="semhit_reported_idx",
                condition=models.Q(reported_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.query[:40]} -> {self.cached_query[:40]}"
