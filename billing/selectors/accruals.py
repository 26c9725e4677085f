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

Take-or-pay commitments whose period runs on past the month add their **shortfall accrual**
(DESIGN.md: "the projected shortfall is accrued monthly"): the shortfall charge projected as of the
month's last day, accrued evenly over its commitment period — the liability at the month's end is
the charge × the period's days elapsed ÷ its days. (A period that ends in the month is charged by
the vendor then: its shortfall is in the month's expected charges and reconciled against the
invoice.) In the agreement's currency, converted at the closing rate into the vendor's and the
reporting currency.

The total is the sum of `accrual_reporting` and `shortfall_accrual_reporting`. Usage without a
price or without a reporting-currency cost (FX missing or stale) is not in the figures: a warning
says how many records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils import timezone

from core.fx import FxTable, FxUnavailable
from core.selectors import organization_settings
from procurement.models import Vendor

from ..months import month_last_day
from ._decimal import exact_decimal
from .reconciliation import FX_LOOKBACK_DAYS, WARNING, Note, VendorMonth, vendor_month_figures

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
    shortfall_accrual: Decimal = ZERO  # in the vendor's currency
    shortfall_accrual_reporting: Decimal = ZERO


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
    # vendors with nothing else this month may still owe a running period's shortfall accrual
    committed = _running_take_or_pay_vendors(month) - {row.vendor.pk for row in rows}
    extra = [accrual_row(f, fx=fx, on=on) for f in vendor_month_figures(month=month, vendor_ids=committed).values()]
    _add_shortfall_accruals(rows + extra, month=month, on=on, fx=fx)
    rows += [row for row in extra if row.shortfall_accrual]
    rows.sort(key=lambda row: (row.vendor.name.lower(), row.vendor.pk))
    return AccrualReport(
        month=month,
        currency=currency,
        closing_day=on,
        rows=rows,
        total=sum((row.accrual_reporting for row in rows if row.accrual_reporting is not None), ZERO)
        + sum((row.shortfall_accrual_reporting for row in rows), ZERO),
        consumed_total=sum((row.consumed_reporting for row in rows), ZERO),
    )


def _running_take_or_pay_vendors(month: date) -> set[int]:
    from contracts.models import Agreement, Commitment

    last = month_last_day(month)
    return set(
        Agreement.objects.filter(start__lte=last, end__gt=last, commitments__treatment=Commitment.Treatment.TAKE_OR_PAY)
        .exclude(status=Agreement.Status.DRAFT)
        .values_list("vendor_id", flat=True)
    )


def _add_shortfall_accruals(rows: list[AccrualRow], *, month: date, on: date, fx: FxTable) -> None:
    """The accrued part of the projected shortfall charge of each take-or-pay period still running."""
    from contracts.models import Agreement, Commitment

    from .commitments import commitment_statuses_many

    last = month_last_day(month)
    by_vendor = {row.vendor.pk: row for row in rows}
    agreements = (
        Agreement.objects.filter(vendor_id__in=by_vendor, start__lte=last, end__gte=month)
        .exclude(status=Agreement.Status.DRAFT)
        .filter(commitments__treatment=Commitment.Treatment.TAKE_OR_PAY)
        .distinct()
        .prefetch_related("commitments")
    )
    asked = [(agreement, min(max(last, agreement.start), agreement.end)) for agreement in agreements]
    for (agreement, _as_of), statuses in zip(asked, commitment_statuses_many(asked), strict=True):
        row = by_vendor[agreement.vendor_id]
        for status in statuses:
            if status.treatment != Commitment.Treatment.TAKE_OR_PAY or status.shortfall_charge <= 0:
                continue
            if status.period_end <= last or status.period_start > last:
                continue  # ends in the month (charged then) or has not begun
            elapsed = (last - status.period_start).days + 1
            share = status.shortfall_charge * Decimal(elapsed) / status.period_days
            try:
                in_vendor = fx.quote(agreement.currency, row.currency, on).convert(share)
                in_reporting = fx.quote(agreement.currency, row.reporting_currency, on).convert(share)
            except FxUnavailable as exc:
                row.notes.append(
                    Note(
                        f"closing_fx_{exc.reason}", f"The shortfall accrual of {agreement.reference} is left out: {exc}"
                    )
                )
                continue
            row.shortfall_accrual += in_vendor
            row.shortfall_accrual_reporting += in_reporting
