"""Where a figure will end its period: a commitment's consumption, a budget's actual spend.

Linear for now: the figure to date continued at its average daily rate. The forecasting issue
(DESIGN.md, Forecasts: ETS with 80 % and 95 % intervals) replaces `commitment_projection`,
`budget_projection` and `projected_crossing`; everything else reads their results, so only this
module changes then. A linear projection has no interval yet, so `low` and `high` equal `end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from math import floor

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
