"""FOCUS 1.0–1.2 CSV (FinOps Open Cost and Usage Specification) → vendor cost lines.

One cost line per row, for the vendor the row's `ProviderName` (FOCUS 1.3: `ServiceProviderName`)
is known as (vendor slug, name or alias; usage.pipeline.costs matches it). Every data row becomes
a CostItem or an Unreadable with its reason: none is dropped.

What real exports and the specification's examples write, and how it is read:
- nulls are bare `NULL` (the FOCUS sample), `null` (the spec's examples) or empty cells;
- timestamps are ISO 8601 with or without an offset (none means UTC, as FOCUS requires UTC),
  "YYYY-MM-DD HH:MM:SS" (the sample) or US dates "5/1/25" (spreadsheet-authored examples);
- money is a plain decimal read exactly from its text, keeping its scale ("0.00000080000");
  a formatted amount ("$10,000.00") is not guessed at: the row is rejected naming the column.

A line's identity is every non-null column except the metric columns (costs, quantities and unit
prices), plus how many earlier rows of the file had the same identity: two identical-looking rows
are two lines, uploading the file again makes both duplicates, and a re-export whose costs changed
restates them. The occurrences above zero are kept in the run's options (`repeats`) so a replayed
row keeps its identity.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from ..formats import FeedError, Unreadable, csv_line
from . import register
from .base import CostItem, Feed, FeedOptions

PROVIDER_COLUMNS = ("ProviderName", "ServiceProviderName")  # FOCUS ≤ 1.2, FOCUS 1.3
REQUIRED = ("BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory")
NULLS = frozenset({"", "NULL", "null", "Null"})

# Columns that measure rather than name a charge: a re-export may change them (a restatement).
METRIC_COLUMNS = frozenset(
    {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "ConsumedQuantity",
        "PricingQuantity",
        "ListUnitPrice",
        "ContractedUnitPrice",
        "CommitmentDiscountQuantity",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
    }
)
# Exact decimals on the cost line: CostItem key → FOCUS column.
EXACT_COLUMNS = {
    "amount": "BilledCost",
    "billed_cost": "BilledCost",
    "effective_cost": "EffectiveCost",
    "list_cost": "ListCost",
    "contracted_cost": "ContractedCost",
    "quantity": "ConsumedQuantity",
}
# Columns stored in the line's own fields; every other non-null column goes to `dimensions`.
MAPPED_COLUMNS = frozenset(
    {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "ConsumedQuantity",
        "ConsumedUnit",
        "BillingCurrency",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ChargeCategory",
        "ChargeDescription",
        "ServiceName",
    }
)
# FOCUS has no model column; providers' extension columns that obviously hold one are used.
MODEL_COLUMNS = ("x_Model", "x_ModelName", "x_ModelId", "Model", "ModelName")

PLAIN_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _cell(value: str) -> str | None:
    value = value.strip()
    return None if value in NULLS else value


def focus_header(text: str) -> list[str]:
    """The header row, checked: the columns every row needs must be there."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FeedError(f"The FOCUS file is not CSV: {exc}.") from exc
    if not header or not any(h.strip() for h in header):
        raise FeedError("The FOCUS file is empty or has no header row.")
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if not any(c in header for c in PROVIDER_COLUMNS):
        missing.insert(0, "ProviderName")
    if missing:
        shown = ", ".join(header[:12]) + (", …" if len(header) > 12 else "")
        raise FeedError(
            f"The header lacks the FOCUS column(s) {', '.join(missing)} that every cost line needs "
            f"(it has {len(header)} columns: {shown}); nothing was stored."
        )
    return header


def _lines(text: str, header: list[str] | None) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, its cells) for every non-blank row; the header is line 1."""
    reader = csv.reader(io.StringIO(text))
    if header is None:
        next(reader, None)
    previous_end = reader.line_num if header is None else 0
    try:
        for values in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if values and any(v.strip() for v in values):
                yield start, values
    except csv.Error as exc:
        raise FeedError(f"Line {reader.line_num}: the CSV cannot be read ({exc}); nothing was stored.") from exc


def _identity_key(header: list[str], values: list[str]) -> tuple:
    """The columns that name the charge (not its amounts), as sorted (column, value) pairs."""
    pairs = []
    for name, raw in zip(header, values, strict=True):
        value = _cell(raw)
        if value is None or name in METRIC_COLUMNS:
            continue
        if name == "Tags":
            tags = _json_object(value)
            value = json.dumps(tags, sort_keys=True) if tags is not None else value
        pairs.append((name, value))
    return tuple(sorted(pairs))


def _repeats(text: str, header: list[str]) -> dict[str, int]:
    """Line → its occurrence among earlier rows of the same identity, for occurrences above 0."""
    seen: Counter = Counter()
    repeats = {}
    for line, values in _lines(text, None):
        if len(values) != len(header):
            continue
        key = _identity_key(header, values)
        if seen[key]:
            repeats[str(line)] = seen[key]
        seen[key] += 1
    return repeats


def _json_object(text: str):
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_timestamp(text: str, column: str) -> datetime:
    """ISO 8601 (offset or none = UTC), "YYYY-MM-DD HH:MM:SS", or a US date "5/1/25" → aware UTC."""
    match = US_DATE.fullmatch(text)
    try:
        if match:
            month, day, year, hour, minute, second = match.groups()
            year_number = int(year) + (2000 if len(year) == 2 else 0)
            moment = datetime(
                year_number, int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
            )
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{column} {text!r} is not a date and time (ISO 8601, YYYY-MM-DD HH:MM:SS or M/D/YY)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # FOCUS timestamps are UTC
    return moment.astimezone(UTC)


def parse_exact(text: str, column: str) -> Decimal:
    """A plain decimal number from its text, keeping every digit and the scale."""
    if not PLAIN_DECIMAL.fullmatch(text):
        raise ValueError(f"{column} {text!r} is not a decimal number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{column} {text!r} is not a decimal number") from None


def focus_item(header: list[str], values: list[str], occurrence: int) -> CostItem | Unreadable:
    """One row → its cost line, or the row with every reason it cannot be read."""
    raw = csv_line(values)
    if len(values) != len(header):
        return Unreadable(raw, f"{len(values)} columns where the header has {len(header)}")
    cells = {name: _cell(value) for name, value in zip(header, values, strict=True)}
    reasons: list[str] = []

    exact: dict[str, Decimal | None] = {}
    for key, column in EXACT_COLUMNS.items():
        text = cells.get(column)
        if text is None:
            exact[key] = None
            continue
        try:
            exact[key] = parse_exact(text, column)
        except ValueError as exc:
            if key != "billed_cost":  # BilledCost is read once, as the amount
                reasons.append(str(exc))
    if cells.get("BilledCost") is None:
        reasons.append("BilledCost is empty: a cost line needs its billed amount")

    period = {}
    for key, column in (("period_start", "ChargePeriodStart"), ("period_end", "ChargePeriodEnd")):
        text = cells.get(column)
        if text is None:
            reasons.append(f"{column} is empty")
            continue
        try:
            period[key] = parse_timestamp(text, column)
        except ValueError as exc:
            reasons.append(str(exc))
    if reasons:
        return Unreadable(raw, "; ".join(reasons))

    provider = next((cells[c] for c in PROVIDER_COLUMNS if cells.get(c)), None)
    dimensions = {}
    for name, value in cells.items():
        if value is None or name in MAPPED_COLUMNS:
            continue
        if name == "Tags":
            tags = _json_object(value)
            dimensions[name] = tags if tags is not None else value
        else:
            dimensions[name] = value
    identity = [*(list(pair) for pair in _identity_key(header, values)), ["#", occurrence]]
    return CostItem(
        {
            "provider_name": provider,
            "period_start": period["period_start"],
            "period_end": period["period_end"],
            **exact,
            "amount_as_given": cells["BilledCost"],
            "amount_unit": "major",
            "currency": cells.get("BillingCurrency"),
            "charge_category": cells.get("ChargeCategory") or "",
            "description": cells.get("ChargeDescription") or "",
            "line_item": cells.get("ServiceName") or cells.get("SkuId") or "",
            "model": next((cells[c] for c in MODEL_COLUMNS if cells.get(c)), ""),
            "quantity_unit": cells.get("ConsumedUnit") or "",
            "dimensions": dimensions,
            "identity": identity,
        },
        raw,
    )


class FocusCsvFeed(Feed):
    format = "focus_csv"
    multi_vendor = True

    def prepare(self, text: str, opts: FeedOptions) -> dict:
        header = focus_header(text)
        kept: dict = {"header": header}
        repeats = _repeats(text, header)
        if repeats:
            kept["repeats"] = repeats
        return kept

    def rows(self, text: str, opts: FeedOptions) -> Iterator[tuple[int, CostItem | Unreadable]]:
        header = opts.options.get("header") or focus_header(text)
        seen: Counter = Counter()
        for line, values in _lines(text, None):
            occurrence = 0
            if len(values) == len(header):
                key = _identity_key(header, values)
                occurrence = seen[key]
                seen[key] += 1
            yield line, focus_item(header, values, occurrence)

    def row(self, raw: str, opts: FeedOptions, number: int) -> CostItem | Unreadable:
        header = opts.options.get("header")
        if not header:
            return Unreadable(raw, "the run kept no FOCUS header to read this row with")
        rows = list(_lines(raw, header))
        if not rows:
            return Unreadable(raw, "the row is empty")
        if len(rows) > 1:
            return Unreadable(raw, "one row was expected, the text holds several")
        occurrence = int((opts.options.get("repeats") or {}).get(str(number), 0))
        return focus_item(header, rows[0][1], occurrence)


register(FocusCsvFeed())

__all__ = ["FocusCsvFeed", "focus_header", "focus_item", "parse_exact", "parse_timestamp"]
