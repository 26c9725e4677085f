"""The cash view: what falls due to vendors when, by each agreement's payment terms.

Vendors bill monthly in arrears: a month's charges are invoiced on the first day of the next
month and fall due `payment_terms_days` later (the agreement in force's terms, else the vendor's).
For each vendor and month up to the horizon:
- a month with vendor invoices entered: their totals and due dates (`source` "invoice");
- an ended month without one: its rated usage (`usage`);
- the current month and later ones: usage to date plus the vendor's latest cost forecast for the
  rest of the month, with the forecast's 80 % band (`forecast`); without a forecast, the usage to
  date continued at its daily average (`linear`).
Commitments add their own dues: a take-or-pay period's projected shortfall charge when the period
ends, and a prepaid amount at the start of its period. Amounts are in the reporting currency (an
invoice in another currency converted at its date; a commitment at today's rate); only what falls
due from `start` on is listed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import VendorInvoice
from billing.months import next_month
from billing.selectors.commitments import commitment_statuses_many
from contracts.models import Agreement, Commitment
from contracts.rating import pricing_periods
from core.fx import FxTable, FxUnavailable
from core.selectors import organization_settings
from procurement.models import Vendor
from usage.models import DailyRollup

from ..models import Forecast


@dataclass(frozen=True)
class CashItem:
    due: date
    vendor: str  # slug
    vendor_name: str
    what: str
    source: str  # invoice, usage, forecast, linear, shortfall, prepaid
    amount: Decimal
    low: Decimal
    high: Decimal


@dataclass
class CashView:
    currency: str
    start: date
    end: date
    items: list[CashItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def by_month(self) -> list[dict]:
        months: dict[date, dict] = {}
        for item in self.items:
            month = item.due.replace(day=1)
            row = months.setdefault(
                month, {"month": month, "amount": Decimal(0), "low": Decimal(0), "high": Decimal(0)}
            )
            row["amount"] += item.amount
            row["low"] += item.low
            row["high"] += item.high
        return [months[m] for m in sorted(months)]

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), Decimal(0))


def _terms(vendor: Vendor, agreements: list[Agreement], on: date) -> int:
    for agreement in agreements:
        if agreement.start <= on <= agreement.end:
            return agreement.payment_terms_days
    return vendor.payment_terms_days


def _forecast_rest(forecast: Forecast | None, *, after: date, through: date) -> tuple[Decimal, Decimal, Decimal] | None:
    if (
        forecast is None
        or not forecast.points
        or date.fromisoformat(forecast.points[0]["date"]) > after + timedelta(days=1)
    ):
        return None
    value = low = high = Decimal(0)
    for point in forecast.points:
        day = date.fromisoformat(point["date"])
        if after < day <= through:
            value += Decimal(point["value"] or 0)
            low += Decimal(point["low80"] or 0)
            high += Decimal(point["high80"] or 0)
    return value, low, high


def cash_view(*, start: date | None = None, end: date | None = None) -> CashView:
    today = timezone.now().date()
    start = start or today
    currency = organization_settings().reporting_currency
    if end is None:
        end = (today.replace(day=1) + timedelta(days=370)).replace(day=1) - timedelta(days=1)
    view = CashView(currency=currency, start=start, end=end)
    fx = FxTable.load(today - timedelta(days=400), today, reporting_currency=currency)
    # the months whose invoices can still fall due in [start, end]: terms are at most 365 days
    first_month = (start - timedelta(days=366)).replace(day=1)
    vendors = {v.pk: v for v in Vendor.objects.all()}
    agreements: dict[int, list[Agreement]] = defaultdict(list)
    in_force = list(
        Agreement.objects.exclude(status=Agreement.Status.DRAFT)
        .select_related("vendor")
        .prefetch_related("commitments")
        .order_by("start")
    )
    for agreement in in_force:
        agreements[agreement.vendor_id].append(agreement)
    usage = defaultdict(Decimal)
    for row in (
        DailyRollup.objects.filter(day__gte=first_month, day__lte=min(end, today))
        .annotate(month=TruncMonth("day"))
        .values("vendor_id", "month")
        .annotate(cost=Sum("cost"))
        .order_by()
    ):
        usage[(row["vendor_id"], row["month"])] += row["cost"] or Decimal(0)
    invoices = defaultdict(list)
    for invoice in VendorInvoice.objects.filter(period__gte=first_month):
        invoices[(invoice.vendor_id, invoice.period)].append(invoice)
    forecasts = {
        f.subject: f
        for f in Forecast.objects.filter(
            subject__in=[f"vendor:{v.slug}" for v in vendors.values()], metric="cost", is_latest=True, scenario=None
        )
    }

    for vendor_id, vendor in sorted(vendors.items(), key=lambda item: item[1].slug):
        month = first_month
        while month <= end:
            last = next_month(month) - timedelta(days=1)
            terms = _terms(vendor, agreements.get(vendor_id, []), last)
            billed = invoices.get((vendor_id, month))
            if billed:
                for invoice in billed:
                    if not (start <= invoice.due_date <= end):
                        continue
                    try:
                        rate = fx.quote(invoice.currency, currency, min(invoice.invoice_date, today)).rate
                    except FxUnavailable as exc:
                        view.warnings.append(f"{vendor.name} invoice {invoice.number}: {exc}")
                        continue
                    amount = (invoice.total * rate).quantize(Decimal("0.01"))
                    view.items.append(
                        CashItem(
                            invoice.due_date,
                            vendor.slug,
                            vendor.name,
                            f"Invoice {invoice.number}",
                            "invoice",
                            amount,
                            amount,
                            amount,
                        )
                    )
                month = next_month(month)
                continue
            due = next_month(month) + timedelta(days=terms)
            if start <= due <= end:
                to_date = usage.get((vendor_id, month), Decimal(0))
                if last < today:
                    item = (to_date, to_date, to_date, "usage")
                else:
                    counted_to = today - timedelta(days=1)
                    rest = _forecast_rest(
                        forecasts.get(f"vendor:{vendor.slug}"),
                        after=max(counted_to, month - timedelta(days=1)),
                        through=last,
                    )
                    if rest is not None:
                        item = (to_date + rest[0], to_date + rest[1], to_date + rest[2], "forecast")
                    else:
                        elapsed = max(0, (counted_to - month).days + 1)
                        days = (last - month).days + 1
                        linear = to_date * days / elapsed if elapsed else to_date
                        item = (linear, linear, linear, "linear")
                amount, low, high, source = item
                if amount:
                    view.items.append(
                        CashItem(
                            due,
                            vendor.slug,
                            vendor.name,
                            f"Usage {month:%Y-%m}",
                            source,
                            amount.quantize(Decimal("0.01")),
                            low.quantize(Decimal("0.01")),
                            high.quantize(Decimal("0.01")),
                        )
                    )
            month = next_month(month)

    committed = [agreement for agreement in in_force if agreement.commitments.all()]
    statuses_of = {
        agreement.pk: {s.id: s for s in of_agreement}
        for agreement, of_agreement in zip(
            committed,
            commitment_statuses_many([(a, min(max(today, a.start), a.end)) for a in committed]),
            strict=True,
        )
    }
    for agreement in committed:
        commitments = list(agreement.commitments.all())
        try:
            rate = fx.quote(agreement.currency, currency, today).rate
        except FxUnavailable as exc:
            view.warnings.append(f"{agreement.reference}: {exc}")
            continue
        statuses = statuses_of[agreement.pk]
        for commitment in commitments:
            periods = pricing_periods(
                agreement_start=agreement.start, agreement_end=agreement.end, commitment_period=commitment.period
            )
            for period_start, period_end in periods:
                if commitment.treatment == Commitment.Treatment.PREPAID and not commitment.is_tokens:
                    due = period_start + timedelta(days=agreement.payment_terms_days)
                    if start <= due <= end:
                        amount = (commitment.amount * rate).quantize(Decimal("0.01"))
                        view.items.append(
                            CashItem(
                                due,
                                agreement.vendor.slug,
                                agreement.vendor.name,
                                f"Prepaid {agreement.reference} {period_start:%Y-%m-%d}",
                                "prepaid",
                                amount,
                                amount,
                                amount,
                            )
                        )
                status = statuses.get(commitment.pk)
                if (
                    commitment.treatment == Commitment.Treatment.TAKE_OR_PAY
                    and status is not None
                    and status.period_end == period_end
                    and status.shortfall_charge > 0
                ):
                    due = period_end + timedelta(days=agreement.payment_terms_days)
                    if start <= due <= end:
                        amount = (status.shortfall_charge * rate).quantize(Decimal("0.01"))
                        view.items.append(
                            CashItem(
                                due,
                                agreement.vendor.slug,
                                agreement.vendor.name,
                                f"Shortfall {agreement.reference} to {period_end:%Y-%m-%d} "
                                f"({status.projection_method})",
                                "shortfall",
                                amount,
                                amount,
                                amount,
                            )
                        )
    view.items.sort(key=lambda i: (i.due, i.vendor, i.what))
    return view
