"""The guardrail log: one row per hit, tenant data under row-level security."""

from __future__ import annotations

from django.db import models

from apps.core.models import TenantScopedModel


class GuardrailEvent(TenantScopedModel):
    """A check that hit: which, what was done, where, and a short masked excerpt.

    The excerpt never holds a personal value or secret in full (engine._Excerpts masks
    them); the request id joins the gateway's ledger row of the same call.
    """

    check_name = models.CharField(max_length=20)  # "check" would shadow Model.check()
    action = models.CharField(max_length=10)
    kind = models.CharField(max_length=80, blank=True)
    direction = models.CharField(max_length=10)  # input | output | passage
    feature = models.CharField(max_length=40, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    excerpt = models.CharField(max_length=300, blank=True)
    score = models.FloatField(default=1.0)

    class Meta:
        indexes = [models.Index(fields=("tenant", "-created_at"), name="guardrail_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.check_name} {self.action} ({self.direction})"
