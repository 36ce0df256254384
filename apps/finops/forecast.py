"""Month-end cost forecast from a tenant's daily costs.

The method, as the Usage & cost page states it:

- fewer than ``SEASONAL_MIN_DAYS`` (14) days of history: a straight line (least squares
  over the days since the first day with usage, up to yesterday), one day: a flat rate;
- from 14 days: the same line plus one offset per weekday (least squares with weekday
  indicators), so a quiet weekend is not mistaken for a falling trend;
- the month-end figure is the cost so far plus the line's value for each day left
  (today included, never below what today already cost), each at least zero;
- the range is ±1.96 standard deviations of the days left's total: each day's own noise
  (the fit's residuals) plus the uncertainty of the fitted line carried forward, days
  treated as independent; roughly a 95% range, never below the cost already spent.

Plain Python (no numpy in production): the normal equations have at most 8 unknowns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

SEASONAL_MIN_DAYS = 14
HISTORY_DAYS = 56  # eight weeks: enough for weekday offsets, recent enough for the trend
Z_95 = 1.96


@dataclass(frozen=True)
class Fit:
    origin: date
    intercept: float
    slope: float
    weekday: tuple[float, ...]  # offset per weekday (Monday first); zeros when linear
    sigma: float  # standard deviation of a day's residual
    xtx: tuple[tuple[float, ...], ...] = ()  # the normal equations' matrix (for the range)

    def predict(self, day: date) -> float:
        t = (day - self.origin).days
        return max(0.0, self.intercept + self.slope * t + self.weekday[day.weekday()])

    def features(self, day: date) -> list[float]:
        return _features(day, self.origin, seasonal=len(self.xtx) > 2)

    def sum_std(self, days: Sequence[date]) -> float:
        """Standard deviation of the sum of ``days``' costs: each day's own noise plus the
        fit's uncertainty carried forward (sigma^2 * (n + a' (X'X)^-1 a), a = the days'
        summed features), so the range widens the further the month runs ahead."""
        if not self.xtx:
            return self.sigma * math.sqrt(len(days))
        a = [sum(col) for col in zip(*(self.features(d) for d in days), strict=True)]
        spread = sum(x * y for x, y in zip(a, _solve([list(r) for r in self.xtx], a), strict=True))
        return self.sigma * math.sqrt(len(days) + max(spread, 0.0))


@dataclass(frozen=True)
class Forecast:
    method: str  # "none", "flat", "linear", "linear_weekly"
    history_days: int
    spent: float  # this month so far, today included
    expected: float
    low: float
    high: float

    @property
    def description(self) -> str:
        return METHODS[self.method].format(days=self.history_days)


METHODS = {
    "none": "No forecast yet: it starts after the first full day with usage.",
    "flat": "One day of history: that day's cost for every day left.",
    "linear": "A straight-line trend fitted to the last {days} days (least squares); "
    "weekday patterns are used once there are 14 days.",
    "linear_weekly": "A straight-line trend plus a weekday pattern, fitted to the last "
    "{days} days (least squares).",
}


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gauss-Jordan elimination with partial pivoting; a zero pivot (a weekday never
    seen) leaves that unknown at 0."""
    n = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            continue
        rows[col], rows[pivot] = rows[pivot], rows[col]
        lead = rows[col][col]
        rows[col] = [v / lead for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col]:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] if abs(rows[i][i]) > 1e-12 else 0.0 for i in range(n)]


def _features(day: date, origin: date, *, seasonal: bool) -> list[float]:
    row = [1.0, float((day - origin).days)]
    if seasonal:  # Monday is the baseline: six indicators
        row += [1.0 if day.weekday() == w else 0.0 for w in range(1, 7)]
    return row


def fit(history: Sequence[tuple[date, float]]) -> Fit:
    """Least squares over ``history`` (consecutive days, oldest first, at least one)."""
    origin = history[0][0]
    seasonal = len(history) >= SEASONAL_MIN_DAYS
    ys = [y for _, y in history]
    xs = [_features(day, origin, seasonal=seasonal) for day, _ in history]
    xtx: list[list[float]] = []
    if len(history) == 1:
        coef = [ys[0], 0.0]
    else:
        p = len(xs[0])
        xtx = [[sum(x[i] * x[j] for x in xs) for j in range(p)] for i in range(p)]
        xty = [sum(x[i] * y for x, y in zip(xs, ys, strict=True)) for i in range(p)]
        coef = _solve(xtx, xty)
    residuals = [
        y - sum(c * v for c, v in zip(coef, x, strict=True)) for x, y in zip(xs, ys, strict=True)
    ]
    dof = len(history) - len(coef)
    mean = sum(ys) / len(ys)
    # Too few days to measure the noise: assume a day may vary by half the mean.
    sigma = math.sqrt(sum(r * r for r in residuals) / dof) if dof > 0 else 0.5 * mean
    weekday = (0.0, *coef[2:]) if seasonal else (0.0,) * 7
    return Fit(origin, coef[0], coef[1], tuple(weekday), sigma, tuple(map(tuple, xtx)))


def trim_history(daily: Sequence[tuple[date, float]], today: date) -> list[tuple[date, float]]:
    """The complete days a forecast learns from: from the first day with any cost in the
    last ``HISTORY_DAYS`` days to yesterday (days without usage after it count as 0)."""
    start = today - timedelta(days=HISTORY_DAYS)
    costs = {day: cost for day, cost in daily if start <= day < today}
    first = next((day for day in sorted(costs) if costs[day] > 0), None)
    if first is None:
        return []
    days = (today - first).days
    return [
        (first + timedelta(days=i), costs.get(first + timedelta(days=i), 0.0)) for i in range(days)
    ]


def month_end(daily: Sequence[tuple[date, float]], today: date) -> Forecast:
    """The month's total cost at its end, from ``daily`` (date, cost) pairs that include
    this month's days so far (today's partial cost too) and up to 8 weeks before."""
    costs = dict(daily)
    month_start = today.replace(day=1)
    spent = sum(cost for day, cost in costs.items() if month_start <= day <= today)
    history = trim_history(daily, today)
    if not history:
        return Forecast("none", 0, spent, spent, spent, spent)
    model = fit(history)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    left = [today + timedelta(days=i) for i in range((next_month - today).days)]
    today_so_far = costs.get(today, 0.0)
    predicted = sum(model.predict(day) for day in left[1:])
    predicted += max(model.predict(today), today_so_far)
    expected = spent - today_so_far + predicted
    spread = Z_95 * model.sum_std(left)
    method = (
        "flat"
        if len(history) == 1
        else "linear_weekly"
        if len(history) >= SEASONAL_MIN_DAYS
        else "linear"
    )
    return Forecast(
        method,
        len(history),
        spent,
        expected,
        max(spent, expected - spread),
        expected + spread,
    )
