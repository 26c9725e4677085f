"""Where a figure will end its period: a commitment's consumption, a budget's actual spend.

From the subject's latest forecast when insights has one (`forecast_projection`: the figure to
date plus the forecast of the rest of the period, with its 80 % band), else linear: the figure to
date continued at its average daily rate (no interval: `low` and `high` equal `end`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from math import floor

logger = logging.getLogger(__name__)

LINEAR = "linear"
ARITHMETIC_PRECISION = 60  # 10¹³-token sums × day counts, and 12-place costs, fit without rounding


@dataclass(frozen=True)
class Projection:
    end: Decimal  # the figure expected on the period's last day
    low: Decimal
    high: Decimal
    method: str


def linear_projection(*, to_date: Decimal, elapsed_days: int, period_days: int, quantum: Decimal) -> Projection:
    """to_date ÷ elapsed days × period days, rounded half up to `quantum`.

    With the whole period elapsed the projection is the figure itself; with no day elapsed there is
    no rate to continue, so it is the figure to date (zero, unless data precedes the period)."""
    if 0 < elapsed_days < period_days:
        with localcontext() as ctx:
            ctx.prec = ARITHMETIC_PRECISION
            end = (to_date * period_days / elapsed_days).quantize(quantum, rounding=ROUND_HALF_UP)
    else:
        end = to_date.quantize(quantum, rounding=ROUND_HALF_UP)
    return Projection(end=end, low=end, high=end, method=LINEAR)


def commitment_projection(*, consumed: Decimal, elapsed_days: int, period_days: int, quantum: Decimal) -> Projection:
    """What a commitment period will have consumed by its last day."""
    return linear_projection(to_date=consumed, elapsed_days=elapsed_days, period_days=period_days, quantum=quantum)


def budget_projection(*, actual: Decimal, elapsed_days: int, year_days: int, quantum: Decimal) -> Projection:
    """A budget's actual spend on the fiscal year's last day."""
    return linear_projection(to_date=actual, elapsed_days=elapsed_days, period_days=year_days, quantum=quantum)


def projected_crossing(*, to_date: Decimal, elapsed_days: int, period_days: int, limit: Decimal) -> int | None:
    """The first day (1 = the period's first day) on which the projection exceeds `limit`, or
    None when it stays within it to the period's end. Assumes `to_date` has not exceeded `limit`.

    Linear: day n holds to_date × n ÷ elapsed, which first exceeds the limit on
    n = ⌊limit × elapsed ÷ to_date⌋ + 1 (computed with fractions, exactly)."""
    if elapsed_days <= 0 or to_date <= 0 or to_date > limit:
        return None
    day = floor(Fraction(limit) * elapsed_days / Fraction(to_date)) + 1
    return day if day <= period_days else None


# Forecasts (insights) ----------------------------------------------------------------------------
# insights sits above billing, so it registers where its forecasts are read from (at app ready);
# billing asks it for the sum of a subject's forecast over the rest of a period, and falls back to
# the linear projection when there is none.

# The source answers, in one query, the latest forecast of each (subject, metric) asked for:
# {(subject, metric): {"method": str, "points": [{"date": "YYYY-MM-DD", "value", "low80", "high80"}, …]}}
ForecastSource = Callable[[list[tuple[str, str]]], dict[tuple[str, str], dict]]
_forecast_source: ForecastSource | None = None


def register_forecast_source(source: ForecastSource | None) -> None:
    global _forecast_source
    _forecast_source = source


def latest_forecasts(requests: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The latest forecasts of these (subject, metric) pairs, in one query ({} without a source)."""
    if _forecast_source is None or not requests:
        return {}
    try:
        return _forecast_source(requests)
    except Exception:  # a broken forecast must not break the money views: linear instead
        logger.exception("forecasts unreadable")
        return {}


@dataclass(frozen=True)
class ForecastProjection(Projection):
    days: tuple[tuple[date, Decimal], ...] = ()  # the forecast's daily values after as_of


def forecast_projection(
    *,
    subject: str,
    metric: str,
    to_date: Decimal,
    as_of: date,
    period_end: date,
    quantum: Decimal,
    forecasts: dict[tuple[str, str], dict] | None = None,
) -> ForecastProjection | None:
    """to_date + the subject's latest forecast over (as_of, period_end]: value and the summed 80 %
    bounds (summed day by day, a band wider than the sum's own interval). None without a
    forecast covering those days, or once the period has ended. `forecasts`: already read with
    `latest_forecasts` (one query for many subjects)."""
    if _forecast_source is None or as_of >= period_end:
        return None
    if forecasts is None:
        forecasts = latest_forecasts([(subject, metric)])
    found = forecasts.get((subject, metric))
    if not found or not found.get("points"):
        return None
    points = found["points"]
    if date.fromisoformat(points[0]["date"]) > as_of + timedelta(days=1):
        return None  # made after as_of: it does not cover the days right after it
    total = {"value": Decimal(0), "low80": Decimal(0), "high80": Decimal(0)}
    days = []
    for point in points:
        day = date.fromisoformat(point["date"])
        if as_of < day <= period_end:
            for name in total:
                total[name] += Decimal(point.get(name) or 0)
            days.append((day, Decimal(point.get("value") or 0)))
    with localcontext() as ctx:
        ctx.prec = ARITHMETIC_PRECISION
        return ForecastProjection(
            end=(to_date + total["value"]).quantize(quantum, rounding=ROUND_HALF_UP),
            low=(to_date + total["low80"]).quantize(quantum, rounding=ROUND_HALF_UP),
            high=(to_date + total["high80"]).quantize(quantum, rounding=ROUND_HALF_UP),
            method=found["method"],
            days=tuple(days),
        )


def forecast_crossing(projection: ForecastProjection, *, to_date: Decimal, limit: Decimal) -> date | None:
    """The first forecast day on which to_date plus the forecast so far exceeds `limit`."""
    running = to_date
    for day, value in projection.days:
        running += value
        if running > limit:
            return day
    return None
