"""Compare the tokens sent to Stripe's meter with Stripe's summaries for one day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.billing.reconcile import reconcile_day
from apps.core.errors import ServiceError


class Command(BaseCommand):
    help = "Reconcile one day of metered usage with Stripe (default: yesterday, UTC)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (UTC)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["date"]:
            try:
                day = datetime.strptime(options["date"], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise CommandError("Give --date as YYYY-MM-DD, e.g. 2026-12-03.") from None
        else:
            day = timezone.now() - timedelta(days=1)
        try:
            report = reconcile_day(day)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{day:%Y-%m-%d}: {report.customers} customers, {report.hours_checked} hours, "
            f"{report.differences} differences, {report.resent_batches} batches sent again, "
            f"{report.customers_refused} customers Stripe refused to report"
        )
