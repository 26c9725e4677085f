"""Accruals: usage consumed in a month that the vendors have not invoiced (yet).

Per vendor, in its billing currency (the figures of billing.selectors.reconciliation):

    consumed  = the month's rated usage + volume true-ups booked in it
    invoiced  = the subtotals (before tax) of the vendor's invoices for the month
    accrual   = max(0, consumed − invoiced)       what is still to be invoiced
    covered   = consumed − accrual                what the invoices already cover
    over_invoiced = max(0, invoiced − consumed)   shown, never netted against other vendors

and in the reporting currency:

    consumed_reporting = the records' `cost_reporting` + the true-ups' `adjustment_reporting`
                         (as rated: at each usage date's rate)
    accrual_reporting  = the accrual at the closing rate — the rate of the month's last day (or
                         today's, while the month runs) — as a liability in a foreign currency
                         is measured at the period's end (DESIGN.md's FX rule: a missing or stale
                         rate leaves it out of the total with a warning, never guessed)

The total is the sum of `accrual_reporting`. Usage without a price or without a reporting-currency
cost (FX missing or stale) is not in the figures: a warning says how many records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils import timezone

from core.fx import FxTable, FxUnavailable
from core.selectors import organization_settings
from procurement.models import Vendor

from ._decimal import exact_decimal
from .reconciliation import FX_LOOKBACK_DAYS, WARNING, Note, VendorMonth, month_last_day, vendor_month_figures

ZERO = Decimal(0)
# the reconciliation notes that concern what accruals add up
ACCRUAL_NOTE_CODES = ("unpriced", "fx_missing", "fx_stale")  # prefixes


@dataclass
class AccrualRow:
    vendor: Vendor
    currency: str
    consumed: Decimal
    invoiced: Decimal
    covered: Decimal
    accrual: Decimal
    over_invoiced: Decimal
    invoices: int
    reporting_currency: str
    consumed_reporting: Decimal
    accrual_reporting: Decimal | None  # None: no usable closing rate
    notes: list[Note] = field(default_factory=list)


@dataclass
class AccrualReport:
    month: date
    currency: str  # the reporting currency
    closing_day: date  # the rate of this day converts the accruals
    rows: list[AccrualRow]
    total: Decimal  # the accruals in the reporting currency
    consumed_total: Decimal

    @property
    def warnings(self) -> list[str]:
        return [
            f"{row.vendor.name}: {note.message}" for row in self.rows for note in row.notes if note.severity == WARNING
        ]


def closing_day(month: date, today: date | None = None) -> date:
    """The day whose rate measures the month's accruals: its last day (today while it runs)."""
    return min(month_last_day(month), today or timezone.now().date())


@exact_decimal
def accrual_row(figures: VendorMonth, *, fx: FxTable, on: date) -> AccrualRow:
    consumed = figures.expected_usage
    invoiced = figures.invoiced or ZERO
    accrual = max(ZERO, consumed - invoiced)
    notes = [note for note in figures.notes if note.code.startswith(ACCRUAL_NOTE_CODES)]
    accrual_reporting = None
    try:
        accrual_reporting = fx.quote(figures.currency, figures.reporting_currency, on).convert(accrual)
    except FxUnavailable as exc:
        notes.append(
            Note(
                f"closing_fx_{exc.reason}",
                f"The accrual of {accrual.normalize():f} {figures.currency} could not be converted to "
                f"{figures.reporting_currency} at the rate of {on} ({exc}): not in the total.",
            )
        )
    if figures.without_reporting_cost:
        count = figures.without_reporting_cost
        notes.append(
            Note(
                "no_reporting_cost",
                f"{count} priced record{'s' if count != 1 else ''} or true-up{'s' if count != 1 else ''} "
                f"without a {figures.reporting_currency} cost (FX missing or stale): not in consumed "
                f"({figures.reporting_currency}).",
            )
        )
    return AccrualRow(
        vendor=figures.vendor,
        currency=figures.currency,
        consumed=consumed,
        invoiced=invoiced,
        covered=consumed - accrual,
        accrual=accrual,
        over_invoiced=max(ZERO, invoiced - consumed),
        invoices=len(figures.invoices),
        reporting_currency=figures.reporting_currency,
        consumed_reporting=figures.usage_reporting,
        accrual_reporting=accrual_reporting,
        notes=notes,
    )


@exact_decimal
def accruals_for_month(*, month: date) -> AccrualReport:
    """One row per vendor with usage or an invoice in the month, by vendor name."""
    month = month.replace(day=1)
    currency = organization_settings().reporting_currency
    on = closing_day(month)
    fx = FxTable.load(on, on, reporting_currency=currency, lookback_days=FX_LOOKBACK_DAYS)
    rows = [
        accrual_row(figures, fx=fx, on=on)
        for figures in vendor_month_figures(month=month).values()
        if figures.records or figures.true_ups or figures.invoices
    ]
    rows.sort(key=lambda row: (row.vendor.name.lower(), row.vendor.pk))
    return AccrualReport(
        month=month,
        currency=currency,
        closing_day=on,
        rows=rows,
        total=sum((row.accrual_reporting for row in rows if row.accrual_reporting is not None), ZERO),
        consumed_total=sum((row.consumed_reporting for row in rows), ZERO),
    )
