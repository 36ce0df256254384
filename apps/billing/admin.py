"""Staff views of billing: received webhook events and meter batches (failed or flagged
ones are the ones to look at)."""

from __future__ import annotations

from django.contrib import admin

from apps.billing.models import MeterReconciliation, StripeEvent


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in the stubs
    list_display = ("id", "type", "received_at", "applied_at", "outcome")
    list_filter = ("type",)
    search_fields = ("id", "outcome")
    readonly_fields = ("id", "type", "received_at", "applied_at", "outcome")


@admin.register(MeterReconciliation)
class MeterReconciliationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in the stubs
    list_display = ("hour", "stripe_customer_id", "local_tokens", "stripe_tokens", "resent")
    list_filter = ("resent",)
    search_fields = ("stripe_customer_id",)
    readonly_fields = list_display
