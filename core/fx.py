"""Exchange rates: lookup and conversion by DESIGN.md's rule, and importing rate tables.

A row `base, quote, rate` means 1 `base` buys `rate` `quote`. Conversion uses the direct pair,
else its inverse, else a cross rate through a pivot currency (the reporting currency first; then
EUR, the base of ECB tables, and USD — an extension, see the README). The rate used is that of
the date, else the latest earlier one at most 7 days old; older or missing rates raise
FxUnavailable: a rate is never guessed, and never 1.0.

Amounts are converted as amount × multiplier ÷ divisor, so an inverse or cross rate loses nothing
before the final rounding to the 12 stored places.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from .currencies import is_currency
from .models import FxRate
from .money import COST_QUANTUM, MoneyError, to_decimal

MAX_AGE_DAYS = 7
EXTRA_PIVOTS = ("EUR", "USD")


class FxUnavailable(LookupError):
    def __init__(self, base: str, quote: str, on: date, *, latest: date | None = None) -> None:
        self.base, self.quote, self.on, self.latest = base, quote, on, latest
        self.reason = "stale" if latest else "missing"
        detail = f"latest is {latest}, older than {MAX_AGE_DAYS} days" if latest else "no rate"
        super().__init__(f"No usable {base}/{quote} rate for {on}: {detail}")


@dataclass(frozen=True)
class FxQuote:
    base: str
    quote: str
    on: date
    rate_date: date  # the oldest rate used
    multiplier: Decimal
    divisor: Decimal
    method: str  # identity, direct, inverse, cross
    via: str | None = None

    @property
    def rate(self) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 40
            return (self.multiplier / self.divisor).quantize(Decimal("1e-12"), rounding=ROUND_HALF_UP)

    @property
    def age_days(self) -> int:
        return (self.on - self.rate_date).days

    def convert(self, amount: Decimal) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 60
            return (amount * self.multiplier / self.divisor).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


class FxTable:
    """Rates for a date range held in memory, for converting many amounts with few queries."""

    def __init__(self, rows: list[tuple[date, str, str, Decimal]], *, pivots: tuple[str, ...] = ()) -> None:
        self._by_pair: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
        for day, base, quote, rate in rows:
            self._by_pair[(base, quote)].append((day, rate))
        for series in self._by_pair.values():
            series.sort()
        self.pivots = tuple(dict.fromkeys(p for p in (*pivots, *EXTRA_PIVOTS) if p))

    @classmethod
    def load(
        cls, start: date, end: date, *, reporting_currency: str | None = None, lookback_days: int = MAX_AGE_DAYS
    ) -> FxTable:
        """Rates from `lookback_days` before `start` to `end`. A longer lookback lets a lookup
        tell a stale rate (and its date) from a missing one."""
        rows = FxRate.objects.filter(date__gte=start - timedelta(days=lookback_days), date__lte=end).values_list(
            "date", "base", "quote", "rate"
        )
        return cls(list(rows), pivots=(reporting_currency,) if reporting_currency else ())

    def _latest(self, base: str, quote: str, on: date) -> tuple[date, Decimal] | None:
        best = None
        for day, rate in self._by_pair.get((base, quote), ()):
            if day > on:
                break
            best = (day, rate)
        return best

    def _leg(self, base: str, quote: str, on: date) -> tuple[date, Decimal, Decimal, str] | None:
        """(rate date, multiplier, divisor, method) of the freshest direct or inverse rate."""
        direct = self._latest(base, quote, on)
        inverse = self._latest(quote, base, on)
        candidates = []
        if direct:
            candidates.append((direct[0], 1, direct[1], Decimal(1), "direct"))
        if inverse:
            candidates.append((inverse[0], 0, Decimal(1), inverse[1], "inverse"))
        if not candidates:
            return None
        day, _, multiplier, divisor, method = max(candidates)  # freshest; direct wins a tie
        return day, multiplier, divisor, method

    def quote(self, base: str, quote: str, on: date) -> FxQuote:
        if base == quote:
            return FxQuote(base, quote, on, on, Decimal(1), Decimal(1), "identity")
        oldest_allowed = on - timedelta(days=MAX_AGE_DAYS)
        leg = self._leg(base, quote, on)
        if leg and leg[0] >= oldest_allowed:
            return FxQuote(base, quote, on, leg[0], leg[1], leg[2], leg[3])
        latest = leg[0] if leg else None
        for pivot in self.pivots:
            if pivot in (base, quote):
                continue
            first, second = self._leg(base, pivot, on), self._leg(pivot, quote, on)
            if not first or not second:
                continue
            day = min(first[0], second[0])
            if day >= oldest_allowed:
                return FxQuote(base, quote, on, day, first[1] * second[1], first[2] * second[2], "cross", via=pivot)
            latest = max(latest or day, day)
        raise FxUnavailable(base, quote, on, latest=latest)


def fx_quote(base: str, quote: str, on: date, *, reporting_currency: str | None = None) -> FxQuote:
    """One lookup (for many, load an FxTable once)."""
    if reporting_currency is None:
        from .selectors import organization_settings

        reporting_currency = organization_settings().reporting_currency
    return FxTable.load(on, on, reporting_currency=reporting_currency, lookback_days=366).quote(base, quote, on)


# Importing ---------------------------------------------------------------------------------------


@dataclass
class FxImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_currencies: set[str] | None = None
    errors: list[dict] | None = None
    layout: str = ""

    def as_dict(self) -> dict:
        return {
            "layout": self.layout,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_currencies": sorted(self.skipped_currencies or []),
            "errors": self.errors or [],
            "message": f"{self.created} rates created, {self.updated} updated, {self.unchanged} unchanged"
            + (f", {len(self.errors)} rows rejected" if self.errors else ""),
        }


class FxImportError(ValueError):
    pass


def _parse_ecb(reader: csv.reader, header: list[str], result: FxImportResult):
    """ECB eurofxref(-hist).csv: Date,USD,JPY,…  with N/A for missing days; base EUR."""
    currencies = [c.strip() for c in header[1:]]
    for line_no, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        result.rows += 1
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            result.errors.append({"row": line_no, "reasons": [f"{row[0]!r} is not a date (YYYY-MM-DD)"]})
            continue
        for currency, cell in zip(currencies, row[1:], strict=False):
            cell = cell.strip()
            if not currency or cell in ("", "N/A"):
                continue
            if not is_currency(currency):
                result.skipped_currencies.add(currency)
                continue
            try:
                rate = to_decimal(cell)
            except MoneyError:
                result.errors.append({"row": line_no, "reasons": [f"{currency}: {cell!r} is not a number"]})
                continue
            yield day, "EUR", currency, rate


def _parse_pairs(reader: csv.reader, header: list[str], result: FxImportResult):
    """Generic CSV: date,base,quote,rate."""
    columns = {name.strip().lower(): i for i, name in enumerate(header)}
    for line_no, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        result.rows += 1
        reasons = []
        try:
            day = date.fromisoformat(row[columns["date"]].strip())
        except (ValueError, IndexError):
            reasons.append("date must be YYYY-MM-DD")
        base = row[columns["base"]].strip().upper() if len(row) > columns["base"] else ""
        quote = row[columns["quote"]].strip().upper() if len(row) > columns["quote"] else ""
        for code in (base, quote):
            if not is_currency(code):
                reasons.append(f"{code!r} is not an ISO 4217 currency code")
        if base == quote and base:
            reasons.append("base and quote must differ")
        try:
            rate = to_decimal(row[columns["rate"]])
            if rate <= 0:
                reasons.append("rate must be positive")
        except (MoneyError, IndexError):
            reasons.append("rate must be a decimal number")
        if reasons:
            result.errors.append({"row": line_no, "reasons": reasons})
            continue
        yield day, base, quote, rate


def fx_rates_import_csv(data: bytes, *, actor=None, source: str = FxRate.Source.CSV, progress=None) -> FxImportResult:
    """Import an ECB `eurofxref-hist.csv` (detected by its `Date,USD,…` header) or a
    `date,base,quote,rate` CSV. Rates of the same date and pair are replaced. All or nothing for
    the valid rows; rejected rows are reported with their reasons."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FxImportError("The file is not UTF-8 text.") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise FxImportError("The file is empty.")
    names = [h.strip().lower() for h in header]
    result = FxImportResult(skipped_currencies=set(), errors=[])
    if names[0] == "date" and {"base", "quote", "rate"} <= set(names):
        result.layout = "pairs"
        parsed = list(_parse_pairs(reader, header, result))
    elif names[0] == "date" and len(names) > 1:
        result.layout = "ecb"
        source = FxRate.Source.ECB
        parsed = list(_parse_ecb(reader, header, result))
    else:
        raise FxImportError("Unknown layout: expected ECB 'Date,USD,JPY,…' or 'date,base,quote,rate' columns.")

    latest: dict[tuple[date, str, str], Decimal] = {}
    for day, base, quote, rate in parsed:
        latest[(day, base, quote)] = rate
    with transaction.atomic():
        existing = {}
        keys = list(latest)
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            days = {k[0] for k in chunk}
            for row in FxRate.objects.filter(date__in=days).values_list("id", "date", "base", "quote", "rate"):
                existing[(row[1], row[2], row[3])] = (row[0], row[4])
            if progress:
                progress(int(40 * (start + len(chunk)) / max(1, len(keys))))
        to_create, changed = [], {}
        for key, rate in latest.items():
            if key in existing:
                row_id, old = existing[key]
                if old == rate:
                    result.unchanged += 1
                else:
                    changed[row_id] = rate
            else:
                to_create.append(FxRate(date=key[0], base=key[1], quote=key[2], rate=rate, source=source))
        to_update = list(FxRate.objects.in_bulk(list(changed)).values())
        for row in to_update:
            row.rate, row.source = changed[row.pk], source
        if progress:
            progress(60)
        bulk_create_with_history(to_create, FxRate, batch_size=5000, default_user=actor)
        bulk_update_with_history(to_update, FxRate, ["rate", "source"], batch_size=5000, default_user=actor)
        result.created, result.updated = len(to_create), len(to_update)
        days = [row.date for row in to_create] + [row.date for row in to_update]
        if days:
            from .services import rerate_request

            rerate_request(
                since=min(days),
                until=max(days) + timedelta(days=MAX_AGE_DAYS),
                reason=f"FX rates imported ({len(days)} new or changed)",
                actor=actor,
            )
    return result
