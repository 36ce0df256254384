"""The month-end forecast on synthetic series with a known trend and weekly pattern, and
the savings arithmetic (apps/finops/forecast.py, apps/finops/savings.py)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from apps.finops import forecast
from apps.finops.savings import ModelUsage, savings

WEEKLY = (4.0, 5.0, 5.5, 5.0, 4.5, -9.0, -12.0)  # Monday first: quiet weekends


def truth(day: date, origin: date) -> float:
    return 20.0 + 0.4 * (day - origin).days + WEEKLY[day.weekday()]


def series(origin: date, days: int, noise: float = 0.0, seed: int = 7) -> list[tuple[date, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(days):
        day = origin + timedelta(days=i)
        out.append((day, truth(day, origin) + rng.gauss(0, noise)))
    return out


def test_the_weekly_fit_recovers_a_known_trend_and_pattern() -> None:
    origin = date(2026, 10, 5)
    model = forecast.fit(series(origin, 35))
    assert model.slope == pytest.approx(0.4)
    for i in range(35, 70):
        day = origin + timedelta(days=i)
        assert model.predict(day) == pytest.approx(truth(day, origin))
    assert model.sigma == pytest.approx(0.0, abs=1e-9)


def test_month_end_with_weekday_seasonality_is_exact_without_noise() -> None:
    origin, today = date(2026, 10, 5), date(2026, 12, 10)
    history = [(d, c) for d, c in series(origin, (today - origin).days + 1)]
    # Today so far: a third of a day.
    history[-1] = (today, truth(today, origin) / 3)
    result = forecast.month_end(history, today)
    expected = sum(truth(date(2026, 12, d), origin) for d in range(1, 32))
    assert result.method == "linear_weekly"
    assert result.history_days == forecast.HISTORY_DAYS
    assert result.expected == pytest.approx(expected)
    assert result.low == pytest.approx(expected)
    assert result.high == pytest.approx(expected)
    assert "weekday pattern" in result.description


def test_noisy_series_forecast_is_close_and_its_range_holds_the_truth() -> None:
    origin, today = date(2026, 10, 5), date(2026, 12, 10)
    history = series(origin, (today - origin).days, noise=1.5)
    result = forecast.month_end(history, today)
    expected = sum(truth(date(2026, 12, d), origin) for d in range(1, 32))
    spent = sum(c for d, c in history if d.month == 12)
    assert abs(result.expected - expected) / expected < 0.03
    assert result.low < expected < result.high
    assert result.low >= spent


def test_under_two_weeks_it_is_a_straight_line() -> None:
    origin, today = date(2026, 12, 1), date(2026, 12, 11)
    history = [(origin + timedelta(days=i), 10.0 + 2.0 * i) for i in range(10)]
    result = forecast.month_end(history, today)
    spent = sum(c for _, c in history)
    rest = sum(10.0 + 2.0 * i for i in range(10, 31))
    assert result.method == "linear"
    assert result.expected == pytest.approx(spent + rest)
    assert "straight-line" in result.description


def test_no_history_no_forecast_and_one_day_is_flat() -> None:
    today = date(2026, 12, 11)
    assert forecast.month_end([], today).method == "none"
    assert forecast.month_end([(today, 3.0)], today).expected == 3.0  # today only: no full day
    one = forecast.month_end([(today - timedelta(days=1), 4.0)], today)
    assert one.method == "flat"
    assert one.expected == pytest.approx(4.0 * 22)  # yesterday + 21 days left incl. today
    assert one.low >= 4.0


def test_days_after_the_first_usage_count_as_zero_and_before_it_do_not() -> None:
    today = date(2026, 12, 20)
    daily = [(date(2026, 12, 10), 5.0), (date(2026, 12, 15), 5.0)]
    history = forecast.trim_history(daily, today)
    assert history[0] == (date(2026, 12, 10), 5.0)
    assert len(history) == 10
    assert sum(1 for _, c in history if c == 0) == 8


PRICES = {
    "fast": (Decimal("0.15") / 10**6, Decimal("0.60") / 10**6),
    "strong": (Decimal("2.50") / 10**6, Decimal("10.00") / 10**6),
}


def test_savings_add_up_to_the_strong_model_baseline() -> None:
    fast_realtime = PRICES["fast"][0] * 1_000_000 + PRICES["fast"][1] * 200_000  # 0.27
    batch_realtime = PRICES["fast"][0] * 400_000 + PRICES["fast"][1] * 100_000  # 0.12
    usage = [
        ModelUsage(
            "fast",
            tokens_in=1_400_000,
            tokens_out=300_000,
            cost_usd=fast_realtime + batch_realtime / 2,
            batch_tokens_in=400_000,
            batch_tokens_out=100_000,
            batch_cost_usd=batch_realtime / 2,
            saved_exact_usd=Decimal("0.30"),
            saved_semantic_usd=Decimal("0.20"),
        ),
        ModelUsage("strong", tokens_in=100_000, tokens_out=10_000, cost_usd=Decimal("0.35")),
    ]
    result = savings(usage, price=PRICES.__getitem__, strong_model="strong")
    strong_cost = Decimal("2.50") * Decimal("1.4") + Decimal("10.00") * Decimal("0.3")  # 6.50
    assert result.exact_cache_usd == Decimal("0.30")
    assert result.semantic_cache_usd == Decimal("0.20")
    assert result.batch_usd == Decimal("0.06")
    assert result.cheaper_model_usd == strong_cost - Decimal("0.21") - Decimal("0.18")  # 6.11
    assert result.cost_usd == Decimal("0.33") + Decimal("0.35")  # the batch half price is in 0.33
    # The baseline: every token on the strong model, real-time, plus the cached answers.
    assert result.baseline_usd == strong_cost + Decimal("0.35") + Decimal("0.50")
    assert result.total_usd == result.baseline_usd - result.cost_usd
    assert result.share == pytest.approx(float(result.total_usd / result.baseline_usd))


def test_no_usage_means_no_share_and_a_dearer_model_saves_nothing() -> None:
    empty = savings([], price=PRICES.__getitem__, strong_model="strong")
    assert (empty.baseline_usd, empty.share) == (Decimal(0), None)
    dear = {"pricey": (Decimal("5") / 10**6, Decimal("20") / 10**6), **PRICES}
    result = savings(
        [ModelUsage("pricey", 1000, 1000, Decimal("0.025"))],
        price=dear.__getitem__,
        strong_model="strong",
    )
    assert result.cheaper_model_usd == Decimal(0)
    assert result.share == 0.0
