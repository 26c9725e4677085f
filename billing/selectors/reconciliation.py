"""Reconciliation figures: per vendor and month, in the vendor's billing currency, what we expected
to be charged against what the vendor invoiced and what its own cost feed reports.

    expected        = usage + true-ups + shortfall − SLA credits
    usage           = the month's usage records' rated `cost` (the records as last stated, usage
                      dates in the month): as stored when `cost_currency` is the vendor's billing
                      currency, else converted at the usage date's rate (DESIGN.md's FX rule)
    true-ups        = volume true-up adjustments booked in the month (`usage_true_up`, period end
                      in the month), converted at the period end's rate: the vendor bills the tier
                      the pricing period finally reached, not the provisional rates
    shortfall       = take-or-pay shortfall charges of the vendor's commitments whose period ends
                      in the month (billing.selectors.commitments, as of the period's last day),
                      converted at that day's rate
    SLA credits     = SlaCredit rows of the vendor's agreements for the month (`period`), except
                      waived ones, converted at the month's last day's rate
    invoiced        = the sum of the **subtotals** (before tax) of the vendor's invoices for the
                      month, converted at each invoice date's rate: usage is rated before tax, so
                      tax would show as a variance that is not one. None without an invoice.
    vendor_reported = the sum of the vendor's cost lines (VendorCostLine) whose period starts in the
                      month, except FOCUS `Tax` lines, converted at the line's start date's rate.
                      None without a line.

A rate that is missing or stale is never guessed: what it would have converted is left out and a
warning says how much and why; so are usage records without a price. Warnings make a row "needs
review" (billing.services.reconciliation); notes of severity `info` (the month is still running,
a shortfall is still projected) do not.

Dates are UTC; a month is given as its first day. One call computes any number of vendors in a
fixed number of queries (plus two per commitment period ending in the month), so the monthly
board and the API list cost the same for ten vendors as for one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from contracts.models import Agreement, Commitment
from contracts.rating import pricing_periods
from core.fx import FxQuote, FxTable, FxUnavailable
from core.money import COST_QUANTUM
from core.selectors import organization_settings
from procurement.models import Vendor
from usage.models import MonthlyRollup, TrueUp, UsageRecord, VendorCostLine

from ..models import Reconciliation, SlaCredit, VendorInvoice, VendorInvoiceLine
from ..months import month_last_day, next_month
from ._decimal import exact_decimal
from .commitments import commitment_statuses_many

ZERO = Decimal(0)
WARNING = "warning"
INFO = "info"
# FOCUS ChargeCategory of lines that are not charges for the service (compared before tax)
EXCLUDED_CHARGE_CATEGORIES = ("tax",)
FX_LOOKBACK_DAYS = 31  # far enough back to tell a stale rate (and its date) from a missing one


# Months ----------------------------------------------------------------------------------------


def _instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# Figures ---------------------------------------------------------------------------------------


@dataclass
class Note:
    """A warning (the figure is incomplete: needs review) or an info note."""

    code: str
    message: str
    severity: str = WARNING

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message}


@dataclass
class ModelFigures:
    model: str
    tokens: int = 0
    expected: Decimal = ZERO
    vendor_reported: Decimal | None = None
    invoiced: Decimal | None = None

    @property
    def difference(self) -> Decimal | None:
        """vendor_reported − expected (None without a vendor figure)."""
        return None if self.vendor_reported is None else self.vendor_reported - self.expected


@dataclass
class DayFigures:
    day: date
    tokens: int = 0
    expected: Decimal = ZERO
    vendor_reported: Decimal | None = None

    @property
    def difference(self) -> Decimal | None:
        return None if self.vendor_reported is None else self.vendor_reported - self.expected


@dataclass
class InvoiceFigure:
    id: int
    number: str
    invoice_date: date
    status: str
    currency: str
    subtotal: Decimal
    converted: Decimal | None  # in the vendor's currency; None: no usable rate


@dataclass
class ShortfallFigure:
    agreement: str
    commitment_id: int
    period_start: date
    period_end: date
    final: bool
    currency: str
    charge: Decimal
    converted: Decimal | None


@dataclass
class CreditFigure:
    id: int
    agreement: str
    metric: str
    status: str
    currency: str
    credit: Decimal
    converted: Decimal | None


@dataclass
class VendorMonth:
    """Everything reconciliation, accruals and the drill-down need about one vendor and month."""

    vendor: Vendor
    month: date
    currency: str  # the vendor's billing currency
    reporting_currency: str
    usage: Decimal = ZERO
    true_ups: Decimal = ZERO
    shortfall: Decimal = ZERO
    sla_credits: Decimal = ZERO
    invoiced: Decimal | None = None
    vendor_reported: Decimal | None = None
    usage_reporting: Decimal = ZERO  # records' cost_reporting + true-ups' adjustment_reporting
    records: int = 0
    unpriced: int = 0
    without_reporting_cost: int = 0  # priced records (or true-ups) with no reporting-currency cost
    cost_lines: int = 0
    by_model: dict[str, ModelFigures] = field(default_factory=dict)
    by_day: dict[date, DayFigures] = field(default_factory=dict)
    invoices: list[InvoiceFigure] = field(default_factory=list)
    shortfalls: list[ShortfallFigure] = field(default_factory=list)
    credits: list[CreditFigure] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    _unconverted: dict[tuple[str, str, str], list] = field(default_factory=lambda: defaultdict(lambda: [0, ZERO]))

    @property
    def vendor_id(self) -> int:
        return self.vendor.pk

    @property
    def expected_usage(self) -> Decimal:
        return self.usage + self.true_ups

    @property
    def expected(self) -> Decimal:
        return self.usage + self.true_ups + self.shortfall - self.sla_credits

    @property
    def has_warnings(self) -> bool:
        return any(note.severity == WARNING for note in self.notes)

    def model_row(self, model: str) -> ModelFigures:
        if model not in self.by_model:
            self.by_model[model] = ModelFigures(model=model)
        return self.by_model[model]

    def day_row(self, day: date) -> DayFigures:
        if day not in self.by_day:
            self.by_day[day] = DayFigures(day=day)
        return self.by_day[day]

    def left_out(self, what: str, exc: FxUnavailable, amount: Decimal) -> None:
        """Remember an amount a missing or stale rate kept out (one warning per kind and pair)."""
        entry = self._unconverted[(what, f"{exc.base}/{exc.quote}", exc.reason)]
        entry[0] += 1
        entry[1] += amount
        entry.append(exc)

    def finish_notes(self) -> None:
        for (what, pair, reason), (count, amount, *errors) in sorted(self._unconverted.items()):
            dates = sorted({e.on for e in errors})
            latest = max((e.latest for e in errors if e.latest), default=None)
            detail = f"latest rate {latest}, older than 7 days" if reason == "stale" else "no rate"
            span = f"{dates[0]}" if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
            self.notes.append(
                Note(
                    f"fx_{reason}",
                    f"{count} {what} amount{'s' if count != 1 else ''} totalling {amount.normalize():f} "
                    f"{pair.split('/')[0]} could not be converted to {pair.split('/')[1]} ({detail}, {span}): "
                    "left out. Enter the FX rate, then recompute.",
                )
            )
        self._unconverted.clear()


class _Converter:
    """Amounts into one currency by DESIGN.md's FX rule, never guessing (FxUnavailable)."""

    def __init__(self, table: FxTable) -> None:
        self.table = table
        self._quotes: dict[tuple[str, str, date], FxQuote | FxUnavailable] = {}

    def __call__(self, amount: Decimal, base: str, quote: str, on: date) -> Decimal:
        if base == quote:
            return amount.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
        key = (base, quote, on)
        if key not in self._quotes:
            try:
                self._quotes[key] = self.table.quote(base, quote, on)
            except FxUnavailable as exc:
                self._quotes[key] = exc
        found = self._quotes[key]
        if isinstance(found, FxUnavailable):
            raise found
        return found.convert(amount)


def _conversion_day(day: date, today: date) -> date:
    """A month's last day or a period's end that has not come yet converts at today's rate."""
    return min(day, today)


# The month's data, one query each -------------------------------------------------------------


def month_vendor_ids(month: date) -> set[int]:
    """Vendors with anything to reconcile in the month: usage, true-ups, invoices, cost lines,
    SLA credits, or a reconciliation already there (shortfalls are found separately)."""
    first, end = month, next_month(month)
    queries = [
        MonthlyRollup.objects.filter(month=month).values_list("vendor_id"),
        TrueUp.objects.filter(period_end__gte=first, period_end__lt=end).values_list("vendor_id"),
        VendorInvoice.objects.filter(period=month).values_list("vendor_id"),
        VendorCostLine.objects.filter(period_start__gte=_instant(first), period_start__lt=_instant(end)).values_list(
            "vendor_id"
        ),
        SlaCredit.objects.filter(period=month).values_list("agreement__vendor_id"),
        Reconciliation.objects.filter(period=month).values_list("vendor_id"),
    ]
    first_query, *others = [q.order_by() for q in queries]
    return {vendor_id for (vendor_id,) in first_query.union(*others)}


def _shortfall_candidates(month: date, vendor_ids: set[int] | None) -> list[tuple[Agreement, Commitment, date, date]]:
    """(agreement, take-or-pay commitment, period start, period end) for periods ending in the month."""
    first, last = month, month_last_day(month)
    agreements = Agreement.objects.filter(start__lte=last, end__gte=first).exclude(status=Agreement.Status.DRAFT)
    if vendor_ids is not None:
        agreements = agreements.filter(vendor_id__in=vendor_ids)
    agreements = agreements.prefetch_related(
        Prefetch(
            "commitments",
            queryset=Commitment.objects.filter(treatment=Commitment.Treatment.TAKE_OR_PAY).order_by("id"),
            to_attr="take_or_pay",
        )
    ).order_by("vendor_id", "start", "id")
    found = []
    for agreement in agreements:
        for commitment in agreement.take_or_pay:
            periods = pricing_periods(
                agreement_start=agreement.start, agreement_end=agreement.end, commitment_period=commitment.period
            )
            found.extend((agreement, commitment, start, end) for start, end in periods if first <= end <= last)
    return found


@exact_decimal
def vendor_month_figures(*, month: date, vendor_ids: set[int] | list[int] | None = None) -> dict[int, VendorMonth]:
    """The figures of every vendor with something to reconcile in `month` (or of the vendors
    given, whether or not they have), keyed by vendor id."""
    month = month.replace(day=1)
    first, last, end = month, month_last_day(month), next_month(month)
    start_at, end_at = _instant(first), _instant(end)
    today = timezone.now().date()
    reporting = organization_settings().reporting_currency
    wanted = set(vendor_ids) if vendor_ids is not None else None

    candidates = _shortfall_candidates(month, wanted)
    ids = set(wanted) if wanted is not None else month_vendor_ids(month)
    asked = {(agreement.pk, period_end): (agreement, period_end) for agreement, _c, _s, period_end in candidates}
    statuses = {
        key: {s.id: s for s in of_key}
        for key, of_key in zip(asked, commitment_statuses_many(list(asked.values())), strict=True)
    }
    for agreement, commitment, _start, period_end in candidates:
        status = statuses[(agreement.pk, period_end)].get(commitment.pk)
        if wanted is None and status is not None and status.shortfall_charge > 0:
            ids.add(agreement.vendor_id)
    if not ids:
        return {}

    vendors = Vendor.objects.in_bulk(ids)
    figures = {
        vendor_id: VendorMonth(
            vendor=vendor, month=month, currency=vendor.billing_currency, reporting_currency=reporting
        )
        for vendor_id, vendor in sorted(vendors.items())
    }
    vendor_list = list(figures)

    usage_rows = list(
        UsageRecord.objects.filter(vendor_id__in=vendor_list, bucket_start__gte=start_at, bucket_start__lt=end_at)
        .values("vendor_id", "usage_date", "model", "cost_currency")
        .annotate(
            n=Count("id"),
            unpriced=Count("id", filter=Q(cost__isnull=True)),
            no_reporting=Count("id", filter=Q(cost__isnull=False, cost_reporting__isnull=True)),
            tokens=Sum(F("input_tokens") + F("cached_input_tokens") + F("cache_write_tokens") + F("output_tokens")),
            cost_sum=Sum("cost"),
            cost_reporting_sum=Sum("cost_reporting"),
        )
        .order_by("vendor_id", "usage_date", "model", "cost_currency")
    )
    true_ups = list(
        TrueUp.objects.filter(vendor_id__in=vendor_list, period_end__gte=first, period_end__lt=end)
        .values("vendor_id", "period_end", "model", "currency")
        .annotate(
            adjustment_sum=Sum("adjustment"),
            adjustment_reporting_sum=Sum("adjustment_reporting"),
            unconverted=Count("id", filter=Q(adjustment_reporting__isnull=True)),
        )
        .order_by("vendor_id", "period_end", "model", "currency")
    )
    cost_lines = list(
        VendorCostLine.objects.filter(vendor_id__in=vendor_list, period_start__gte=start_at, period_start__lt=end_at)
        .exclude(charge_category__iregex=r"^(" + "|".join(EXCLUDED_CHARGE_CATEGORIES) + r")$")
        .annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("vendor_id", "day", "model", "currency")
        .annotate(amount_sum=Sum("amount"), lines=Count("id"))
        .order_by("vendor_id", "day", "model", "currency")
    )
    invoices = list(
        VendorInvoice.objects.filter(vendor_id__in=vendor_list, period=month)
        .values("id", "vendor_id", "number", "invoice_date", "status", "currency", "subtotal")
        .order_by("vendor_id", "invoice_date", "number")
    )
    credits = list(
        SlaCredit.objects.filter(agreement__vendor_id__in=vendor_list, period=month)
        .exclude(status=SlaCredit.Status.WAIVED)
        .values("id", "agreement__vendor_id", "agreement__reference", "metric", "status", "currency", "credit")
        .order_by("agreement__vendor_id", "id")
    )

    latest_day = max([last, *(row["invoice_date"] for row in invoices)])
    convert = _Converter(FxTable.load(first, latest_day, reporting_currency=reporting, lookback_days=FX_LOOKBACK_DAYS))

    for row in usage_rows:
        vm = figures[row["vendor_id"]]
        vm.records += row["n"]
        vm.unpriced += row["unpriced"]
        vm.without_reporting_cost += row["no_reporting"]
        vm.usage_reporting += row["cost_reporting_sum"] or ZERO
        tokens = int(row["tokens"] or 0)
        model_row, day_row = vm.model_row(row["model"]), vm.day_row(row["usage_date"])
        model_row.tokens += tokens
        day_row.tokens += tokens
        if row["cost_sum"] is None:
            continue  # unpriced only: counted above
        try:
            amount = convert(row["cost_sum"], row["cost_currency"], vm.currency, row["usage_date"])
        except FxUnavailable as exc:
            vm.left_out("usage", exc, row["cost_sum"])
            continue
        vm.usage += amount
        model_row.expected += amount
        day_row.expected += amount

    for row in true_ups:
        vm = figures[row["vendor_id"]]
        vm.usage_reporting += row["adjustment_reporting_sum"] or ZERO
        vm.without_reporting_cost += row["unconverted"]
        try:
            amount = convert(row["adjustment_sum"], row["currency"], vm.currency, row["period_end"])
        except FxUnavailable as exc:
            vm.left_out("true-up", exc, row["adjustment_sum"])
            continue
        vm.true_ups += amount
        vm.model_row(row["model"]).expected += amount
        vm.day_row(row["period_end"]).expected += amount

    for agreement, commitment, period_start, period_end in candidates:
        vm = figures.get(agreement.vendor_id)
        status = statuses[(agreement.pk, period_end)].get(commitment.pk)
        if vm is None or status is None or status.shortfall_charge <= 0:
            continue
        shortfall = ShortfallFigure(
            agreement=agreement.reference,
            commitment_id=commitment.pk,
            period_start=period_start,
            period_end=period_end,
            final=period_end < today,
            currency=agreement.currency,
            charge=status.shortfall_charge,
            converted=None,
        )
        vm.shortfalls.append(shortfall)
        try:
            shortfall.converted = convert(
                status.shortfall_charge, agreement.currency, vm.currency, _conversion_day(period_end, today)
            )
        except FxUnavailable as exc:
            vm.left_out("shortfall", exc, status.shortfall_charge)
            continue
        vm.shortfall += shortfall.converted
        if not shortfall.final:
            vm.notes.append(
                Note(
                    "shortfall_projected",
                    f"The {agreement.reference} commitment period ends {period_end}: its shortfall charge "
                    f"({status.shortfall_charge.normalize():f} {agreement.currency}) is what consumption so far "
                    "implies.",
                    INFO,
                )
            )

    for row in credits:
        vm = figures[row["agreement__vendor_id"]]
        credit = CreditFigure(
            id=row["id"],
            agreement=row["agreement__reference"],
            metric=row["metric"],
            status=row["status"],
            currency=row["currency"],
            credit=row["credit"],
            converted=None,
        )
        vm.credits.append(credit)
        try:
            credit.converted = convert(row["credit"], row["currency"], vm.currency, _conversion_day(last, today))
        except FxUnavailable as exc:
            vm.left_out("SLA credit", exc, row["credit"])
            continue
        vm.sla_credits += credit.converted

    for row in invoices:
        vm = figures[row["vendor_id"]]
        invoice = InvoiceFigure(
            id=row["id"],
            number=row["number"],
            invoice_date=row["invoice_date"],
            status=row["status"],
            currency=row["currency"],
            subtotal=row["subtotal"],
            converted=None,
        )
        vm.invoices.append(invoice)
        vm.invoiced = vm.invoiced if vm.invoiced is not None else ZERO
        try:
            invoice.converted = convert(row["subtotal"], row["currency"], vm.currency, row["invoice_date"])
        except FxUnavailable as exc:
            vm.left_out("invoice", exc, row["subtotal"])
            continue
        vm.invoiced += invoice.converted

    for row in cost_lines:
        vm = figures[row["vendor_id"]]
        vm.cost_lines += row["lines"]
        vm.vendor_reported = vm.vendor_reported if vm.vendor_reported is not None else ZERO
        model_row, day_row = vm.model_row(row["model"] or ""), vm.day_row(row["day"])
        try:
            amount = convert(row["amount_sum"], row["currency"], vm.currency, row["day"])
        except FxUnavailable as exc:
            vm.left_out("vendor cost line", exc, row["amount_sum"])
            continue
        vm.vendor_reported += amount
        model_row.vendor_reported = (model_row.vendor_reported or ZERO) + amount
        day_row.vendor_reported = (day_row.vendor_reported or ZERO) + amount

    for vm in figures.values():
        _month_notes(vm, today=today)
    return figures


def _month_notes(vm: VendorMonth, *, today: date) -> None:
    if vm.unpriced:
        vm.notes.append(
            Note(
                "unpriced",
                f"{vm.unpriced} usage record{'s have' if vm.unpriced != 1 else ' has'} no price: not in the expected "
                "figure. Add a list price or a price rule (usage is re-rated), then recompute.",
            )
        )
    vm.finish_notes()
    if month_last_day(vm.month) >= today:
        vm.notes.append(Note("month_running", "The month has not ended: the figures are to date.", INFO))
    if vm.invoiced is None and vm.vendor_reported is None:
        vm.notes.append(
            Note(
                "nothing_to_compare",
                "No vendor invoice and no vendor cost feed for the month yet: nothing to compare the expected "
                "charges with.",
                INFO,
            )
        )
    vm.notes.sort(key=lambda note: (note.severity != WARNING, note.code))


# Reads of stored rows --------------------------------------------------------------------------


def reconciliation_list() -> QuerySet[Reconciliation]:
    return Reconciliation.objects.select_related("vendor").order_by("-period", "vendor__name", "vendor_id")


def reconciliation_basis(reconciliation: Reconciliation) -> str:
    """What the variance compares the expected charges with: `invoice`, `vendor_feed` or `none`."""
    if reconciliation.invoiced is not None:
        return "invoice"
    if reconciliation.vendor_reported is not None:
        return "vendor_feed"
    return "none"


def reconciliation_histories(reconciliations) -> dict[int, list]:
    """The change history of each reconciliation (newest first), in one query."""
    ids = [r.pk for r in reconciliations]
    by_id: dict[int, list] = defaultdict(list)
    if not ids:
        return by_id
    rows = Reconciliation.history.filter(id__in=ids).select_related("history_user").order_by("-history_date", "-pk")
    for row in rows:
        by_id[row.id].append(row)
    return by_id


# Drill-down ------------------------------------------------------------------------------------


@dataclass
class Drilldown:
    figures: VendorMonth
    by_model: list[ModelFigures]
    by_day: list[DayFigures]
    invoice_lines_missing: bool  # some invoice has no lines: the by-model "invoiced" is partial


@exact_decimal
def reconciliation_drilldown(figures: VendorMonth) -> Drilldown:
    """Expected against vendor-reported (and invoiced, from the invoices' lines) by model, and
    expected against vendor-reported by day. Shortfall and SLA credits belong to the month, not to
    a model or a day: they are listed on their own (figures.shortfalls, figures.credits)."""
    today = timezone.now().date()
    ids = [invoice.id for invoice in figures.invoices]
    with_lines = set()
    if ids:
        lines = (
            VendorInvoiceLine.objects.filter(invoice_id__in=ids)
            .values("invoice_id", "model", "invoice__currency", "invoice__invoice_date")
            .annotate(amount_sum=Sum("amount"))
            .order_by("invoice_id", "model")
        )
        fx = None
        for line in lines:
            with_lines.add(line["invoice_id"])
            currency = line["invoice__currency"]
            amount = line["amount_sum"].quantize(COST_QUANTUM)
            if currency != figures.currency:
                if fx is None:
                    fx = _Converter(
                        FxTable.load(
                            figures.month,
                            max(today, line["invoice__invoice_date"]),
                            reporting_currency=figures.reporting_currency,
                            lookback_days=FX_LOOKBACK_DAYS,
                        )
                    )
                try:
                    amount = fx(amount, currency, figures.currency, line["invoice__invoice_date"])
                except FxUnavailable:
                    continue  # the month's figures already carry the warning for this invoice
            row = figures.model_row(line["model"] or "")
            row.invoiced = (row.invoiced or ZERO) + amount
    return Drilldown(
        figures=figures,
        by_model=sorted(figures.by_model.values(), key=lambda row: (-abs(row.expected), row.model)),
        by_day=[figures.by_day[day] for day in sorted(figures.by_day)],
        invoice_lines_missing=bool(set(ids) - with_lines),
    )
