"""Demo FX rates: a synthetic ECB-style table (base EUR), made by a seeded random walk.

There is no network here, so the demo cannot fetch the ECB's reference rates. Instead each quote
currency walks from a realistic level (EUR/USD 1.08, EUR/CNY 7.80, …) with a small daily
log-normal step (σ 0.3 %, seed 2026), one rate per TARGET business day (no weekends), rounded as
the ECB publishes them. They look like rates and convert like rates; they are not real rates.
Import the real `eurofxref-hist.csv` on the FX page to replace them.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from simple_history.utils import bulk_create_with_history

from .models import FxRate

START_LEVELS = {  # EUR buys this much of each, late 2024 levels; places as the ECB publishes
    "USD": (Decimal("1.0800"), 4),
    "CNY": (Decimal("7.8000"), 4),
    "GBP": (Decimal("0.8400"), 5),
    "JPY": (Decimal("160.00"), 2),
    "SGD": (Decimal("1.4400"), 4),
    "HKD": (Decimal("8.4400"), 4),
    "CHF": (Decimal("0.9500"), 4),
}
DAILY_SIGMA = 0.003
SEED = 2026


def business_days(start: date, end: date):
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def demo_fx_rows(start: date, end: date) -> list[FxRate]:
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    levels = {ccy: float(level) for ccy, (level, _) in START_LEVELS.items()}
    rows = []
    for day in business_days(start, end):
        for ccy, (_, places) in START_LEVELS.items():
            levels[ccy] *= math.exp(rng.gauss(0, DAILY_SIGMA))
            rate = Decimal(repr(levels[ccy])).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
            rows.append(FxRate(date=day, base="EUR", quote=ccy, rate=rate, source=FxRate.Source.ECB))
    return rows


def load_fx_rates(start: date, end: date) -> int:
    """Insert the demo rates for days that have none yet; returns how many were added."""
    have = set(FxRate.objects.filter(base="EUR", date__gte=start, date__lte=end).values_list("date", "quote"))
    missing = [row for row in demo_fx_rows(start, end) if (row.date, row.quote) not in have]
    bulk_create_with_history(missing, FxRate, batch_size=2000)
    return len(missing)
