"""Per-tenant AI configuration, read by the gateway at every call."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TenantScopedModel


class ModelAlias(models.TextChoices):
    FAST = "fast", "Fast (cheaper, quicker)"
    SMART = "smart", "Smart (stronger reasoning)"


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tenant",), name="ai_settings_one_per_tenant")
        ]

    def __str__(self) -> str:
        return f"AI settings for {self.tenant_id}"
