"""The usage report as plain data: JSON for ``GET /api/v1/usage`` and rows for the CSV
download. Both carry the same numbers as the page."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from apps.finops.audit import PromptAudit
from apps.finops.selectors import Row, Totals, UsageReport


def _money(value: Decimal) -> str:
    return f"{value:.6f}"


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "calls": t.calls,
        "tokens_in": t.tokens_in,
        "tokens_out": t.tokens_out,
        "cost_usd": _money(t.cost_usd),
        "cache_hits": t.cache_hits,
        "errors": t.errors,
        "stopped": t.stopped,
    }


def _row(row: Row, key_name: str) -> dict[str, Any]:
    return {
        key_name: row.key or None,
        "label": row.label,
        **_totals(row.totals),
        "share": round(row.share, 4),
    }


def as_dict(report: UsageReport) -> dict[str, Any]:
    s, b, f, t = report.savings, report.budget, report.forecast, report.tokens_today
    return {
        "start": report.query.start.isoformat(),
        "end": report.query.end.isoformat(),
        "user": report.query.user_id,
        "api_key": str(report.query.api_key_id) if report.query.api_key_id else None,
        "totals": _totals(report.totals),
        "daily": [_row(r, "date") for r in report.daily],
        "by_feature": [_row(r, "feature") for r in report.by_feature],
        "by_model": [_row(r, "model") for r in report.by_model],
        "by_user": [_row(r, "user") for r in report.by_user],
        "by_api_key": [_row(r, "api_key") for r in report.by_api_key],
        "savings": {
            "exact_cache_usd": _money(s.exact_cache_usd),
            "semantic_cache_usd": _money(s.semantic_cache_usd),
            "cheaper_model_usd": _money(s.cheaper_model_usd),
            "batch_usd": _money(s.batch_usd),
            "total_usd": _money(s.total_usd),
            "baseline_usd": _money(s.baseline_usd),
            "share": None if s.share is None else round(s.share, 4),
            "strong_model": s.strong_model,
        },
        "budget": {
            "budget_usd": None if b.budget_usd is None else _money(b.budget_usd),
            "month_cost_usd": _money(b.spent_usd),
            "percent": b.percent,
            "marks": list(b.marks),
        },
        "forecast": {
            "method": f.method,
            "description": f.description,
            "history_days": f.history_days,
            "month_to_date_usd": f"{f.spent:.6f}",
            "month_end_usd": f"{f.expected:.6f}",
            "low_usd": f"{f.low:.6f}",
            "high_usd": f"{f.high:.6f}",
        },
        "tokens_today": {"tokens": t.tokens, "limit": t.limit, "percent": t.percent},
        "plan": report.plan,
    }


CSV_HEADER = ("section", "key", "label", "calls", "tokens_in", "tokens_out", "cost_usd", "share")


def as_csv(report: UsageReport, audit: PromptAudit | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)

    def rows(section: str, items: list[Row]) -> None:
        for r in items:
            t = r.totals
            writer.writerow(
                (
                    section,
                    r.key,
                    r.label,
                    t.calls,
                    t.tokens_in,
                    t.tokens_out,
                    _money(t.cost_usd),
                    f"{r.share:.4f}",
                )
            )

    rows("total", [Row("", "All usage", report.totals, 1.0 if report.totals.calls else 0.0)])
    rows("day", report.daily)
    rows("feature", report.by_feature)
    rows("model", report.by_model)
    rows("user", report.by_user)
    rows("api_key", report.by_api_key)
    s = report.savings
    for label, value in (*s.parts(), ("Total saved", s.total_usd), ("Baseline", s.baseline_usd)):
        writer.writerow(("savings", "", label, "", "", "", _money(value), ""))
    f = report.forecast
    for label, estimate in (("Expected", f.expected), ("Low", f.low), ("High", f.high)):
        writer.writerow(("forecast", f.method, label, "", "", "", f"{estimate:.6f}", ""))
    if audit is not None:
        for item in audit.items:
            writer.writerow(
                (
                    "prompt_audit",
                    "",
                    item.name,
                    item.calls,
                    item.tokens,
                    "",
                    _money(item.monthly_usd),
                    "",
                )
            )
    return out.getvalue()
