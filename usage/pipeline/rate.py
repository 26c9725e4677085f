"""Rating at the price book's list price (the contract rating engine replaces this step).

This step gathers what rating needs — the list prices in force for the batch's (vendor, model)
pairs, and each (currency, day)'s FX rate to the reporting currency as an exact fraction — and
persist applies them set-based in SQL, in integers: a price with 6 decimals is an integer count
of micro-units, tokens × micro-units is the cost in units of 10⁻¹² (the 12 stored places), and
FX conversion rounds half up once: div(2·u·n + d, 2·d) for a rate n/d.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from core.fx import FxTable, FxUnavailable
from procurement.models import VendorModel

from .normalise import Row

MICRO = 10**6


def _micro(price) -> int | None:
    return None if price is None else int(price * MICRO)


@dataclass
class RatingTables:
    # (vendor_id, model, valid_from, valid_to, currency, input, cached_input, cache_write, output) in micro-units
    prices: list[tuple] = field(default_factory=list)
    # (currency, day, numerator, denominator, rate text, rate date, status)
    fx: list[tuple] = field(default_factory=list)


def list_price_rows(pairs: set[tuple[int, str]]) -> list[tuple]:
    if not pairs:
        return []
    rows = []
    for p in VendorModel.objects.filter(vendor_id__in={v for v, _ in pairs}, model__in={m for _, m in pairs}):
        if (p.vendor_id, p.model) not in pairs:
            continue
        inp = _micro(p.input_price)
        cached, write = _micro(p.cached_input_price), _micro(p.cache_write_price)
        rows.append(
            (
                p.vendor_id,
                p.model,
                p.effective_from,
                p.effective_to,
                p.currency,
                inp,
                inp if cached is None else cached,
                inp if write is None else write,
                _micro(p.output_price),
            )
        )
    return rows


def fx_rows(currencies: set[str], days: set[date], table: FxTable, reporting: str) -> list[tuple]:
    rows = []
    for currency in sorted(currencies):
        for day in sorted(days):
            try:
                quote = table.quote(currency, reporting, day)
            except FxUnavailable as exc:
                rows.append((currency, day, None, None, None, exc.latest, exc.reason))
                continue
            rate = Fraction(quote.multiplier) / Fraction(quote.divisor)
            status = "same" if quote.method == "identity" else "ok"
            rows.append((currency, day, rate.numerator, rate.denominator, quote.rate, quote.rate_date, status))
    return rows


def rating_tables(rows: list[Row], reporting_currency: str) -> RatingTables:
    prices = list_price_rows({(row.vendor_id, row.model) for row in rows})
    days = {row.usage_date for row in rows}
    currencies = {p[4] for p in prices}
    if not currencies or not days:
        return RatingTables(prices=prices)
    table = FxTable.load(min(days), max(days), reporting_currency=reporting_currency)
    return RatingTables(prices=prices, fx=fx_rows(currencies, days, table, reporting_currency))
