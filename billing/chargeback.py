"""What each department owes for a month: the figures of its chargeback invoice (DESIGN.md,
"Periods and chargeback invoices"), computed from the rated usage, true-ups, commitments and SLA
credits as they stand now. Invoice generation (billing.services.invoices) turns them into lines,
and compares them with what earlier invoices billed for the same month to find prior-period
adjustments.

Usage lines — per department × vendor × model × token class, at the month's blended rate:
- The rated cost of a record is split over its token classes by what each class cost under its
  rating basis (the rule's rate, a graduated record's parts, or the list rate; records rated
  without a basis by the day's list prices). The split is proportional, so the classes of a
  record add up to its stored reporting-currency cost exactly; it is exact per class whenever a
  record is priced in one currency (almost always: a list-priced class in another currency than
  the agreement's is weighted at the day's FX rate between the two).
- The blended rate of a vendor × model × class is the cost of all departments' tokens of that
  line divided by those tokens, so every department pays the same unit price in the month; a
  department's amount is its tokens × that rate, computed exactly and rounded half up to the
  currency's minor unit once (DESIGN.md, Money). Unpriced records (no reporting cost) are left
  out — closing the month needs them acknowledged.
Other lines: volume true-ups booked in the month (per department, vendor, model and class);
take-or-pay shortfalls of commitment periods ending in the month, charged to the commitment's
central department or pro rata to the departments' consumption in the period; SLA credits
received in the month, passed back pro rata to the departments' charges for the clause's models
in the month the credit was earned for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fnmatch import fnmatchcase
from fractions import Fraction

from django.db import connection
from django.db.models import Sum

from contracts.models import Agreement, Commitment, TokenClass
from contracts.rating import pricing_periods
from core.currencies import minor_units
from core.fx import FxQuote, FxTable, FxUnavailable
from core.money import COST_PLACES, TOKENS_PER_PRICE_UNIT
from procurement.models import Vendor, VendorModel
from usage.models import DailyRollup, RatingBasis, TrueUp

from .models import InvoiceLine, SlaCredit
from .months import next_month

CLASSES = (TokenClass.INPUT, TokenClass.CACHED_INPUT, TokenClass.CACHE_WRITE, TokenClass.OUTPUT)
PRICE_FIELDS = ("input_price", "cached_input_price", "cache_write_price", "output_price")
TOKEN_COLUMNS = {
    TokenClass.INPUT: "input_tokens",
    TokenClass.CACHED_INPUT: "cached_input_tokens",
    TokenClass.CACHE_WRITE: "cache_write_tokens",
    TokenClass.OUTPUT: "output_tokens",
}
Kind = InvoiceLine.Kind


def round_half_up(value: Fraction, places: int) -> Decimal:
    """An exact fraction rounded half up (ties away from zero, as Decimal's ROUND_HALF_UP) to
    `places` decimals."""
    scaled = abs(value) * 10**places
    units = int(scaled + Fraction(1, 2))  # floor for a non-negative number
    if value < 0:
        units = -units
    return Decimal(units).scaleb(-places)


def fx_fraction(quote: FxQuote) -> Fraction:
    """The quote's rate as an exact fraction (an inverse rate is not a finite decimal)."""
    return Fraction(quote.multiplier) / Fraction(quote.divisor)


@dataclass(frozen=True)
class Charge:
    """One figure a department owes for a month (an invoice line before it is an invoice line).
    `key` identifies it across invoices: the same key on two invoices charges the same thing."""

    department_id: int
    charge: str  # InvoiceLine.Kind
    vendor_id: int | None
    model: str
    token_class: str
    ref: str  # "" for usage and true-ups; "commitment:<id>:<period end>", "sla:<id>"
    tokens: int
    amount: Decimal  # rounded to the currency's minor unit
    unit_price: Decimal | None  # per 1 000 000 tokens
    description: str
    reference: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.charge, self.vendor_id, self.model, self.token_class, self.ref)


@dataclass
class MonthCharges:
    month: date
    currency: str
    by_department: dict[int, list[Charge]] = field(default_factory=lambda: defaultdict(list))
    warnings: list[str] = field(default_factory=list)

    def add(self, charge: Charge) -> None:
        self.by_department[charge.department_id].append(charge)


# Usage -----------------------------------------------------------------------------------------

USAGE_GROUPS = """
SELECT vendor_id, model, department_id, usage_date, rating_basis_id, cost_currency,
    sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens),
    sum(cost_reporting)
FROM usage_record
WHERE usage_date >= %s AND usage_date < %s AND cost_reporting IS NOT NULL
GROUP BY vendor_id, model, department_id, usage_date, rating_basis_id, cost_currency
"""


class _ListPrices:
    """List prices per (vendor, model), each with its effective dates, loaded once."""

    def __init__(self, vendor_ids: Iterable[int]) -> None:
        self._prices: dict[tuple[int, str], list[VendorModel]] = defaultdict(list)
        for price in VendorModel.objects.filter(vendor_id__in=set(vendor_ids)).order_by("effective_from"):
            self._prices[(price.vendor_id, price.model)].append(price)

    def on(self, vendor_id: int, model: str, day: date) -> VendorModel | None:
        for price in reversed(self._prices.get((vendor_id, model), [])):
            if (price.effective_from is None or price.effective_from <= day) and (
                price.effective_to is None or day <= price.effective_to
            ):
                return price
        return None


def _class_weights(
    detail: dict | None,
    tokens: tuple[int, ...],
    *,
    list_price: VendorModel | None,
    cost_currency: str,
    day: date,
    fx: FxTable,
) -> list[Fraction] | None:
    """What each token class cost under the record's rating, in `cost_currency` (weights for the
    split of the stored reporting cost), or None when the rating does not say."""
    weights: list[Fraction] = []
    for index, token_class in enumerate(CLASSES):
        count = tokens[index]
        if not count:
            weights.append(Fraction(0))
            continue
        part = (detail or {}).get(token_class.value) if detail is not None else None
        if part is not None and "parts" in part:
            weights.append(sum((Fraction(n) * Fraction(Decimal(p)) for _, n, p in part["parts"]), Fraction(0)))
        elif part is not None and "rate" in part:
            weights.append(count * Fraction(Decimal(part["rate"])))
        elif part is not None and "list_rate" in part:
            rate = Fraction(Decimal(part["list_rate"]))
            if list_price is not None and list_price.currency != cost_currency:
                try:
                    rate *= fx_fraction(fx.quote(list_price.currency, cost_currency, day))
                except FxUnavailable:
                    return None
            weights.append(count * rate)
        elif detail is None and list_price is not None:
            price = getattr(list_price, PRICE_FIELDS[index])
            if price is None:
                return None
            weights.append(count * Fraction(Decimal(price)))
        else:
            return None
    return weights


def _usage_charges(result: MonthCharges, *, first: date, end: date, fx: FxTable) -> None:
    with connection.cursor() as cursor:
        cursor.execute(USAGE_GROUPS, [first, end])
        rows = cursor.fetchall()
    if not rows:
        return
    bases = dict(
        RatingBasis.objects.filter(id__in={row[4] for row in rows if row[4] is not None}).values_list("id", "detail")
    )
    list_prices = _ListPrices(row[0] for row in rows)
    # per (vendor, model, class): all departments' tokens and cost; per department its tokens
    line_tokens: dict[tuple, int] = defaultdict(int)
    line_cost: dict[tuple, Fraction] = defaultdict(Fraction)
    department_tokens: dict[tuple, int] = defaultdict(int)
    rough = 0
    for vendor_id, model, department_id, day, basis_id, cost_currency, t0, t1, t2, t3, cost in rows:
        tokens = (int(t0), int(t1), int(t2), int(t3))
        detail = bases.get(basis_id) if basis_id is not None else None
        price = list_prices.on(vendor_id, model, day)
        weights = _class_weights(detail, tokens, list_price=price, cost_currency=cost_currency, day=day, fx=fx)
        if weights is None or not any(weights):
            # the rating does not say how the cost splits: by tokens (flagged once below)
            weights = [Fraction(t) for t in tokens]
            rough += 1
        total_weight = sum(weights, Fraction(0))
        cost = Fraction(cost)
        for index, token_class in enumerate(CLASSES):
            if not tokens[index]:
                continue
            line = (vendor_id, model, token_class.value)
            line_tokens[line] += tokens[index]
            line_cost[line] += cost * weights[index] / total_weight if total_weight else Fraction(0)
            department_tokens[(department_id, *line)] += tokens[index]
    if rough:
        result.warnings.append(
            f"{rough} groups of records were split over their token classes by tokens: their rating basis is missing"
        )
    places = minor_units(result.currency)
    vendor_names = dict(Vendor.objects.filter(id__in={line[0] for line in line_tokens}).values_list("id", "name"))
    for (department_id, vendor_id, model, token_class), tokens in sorted(department_tokens.items()):
        line = (vendor_id, model, token_class)
        rate = line_cost[line] / line_tokens[line]  # per token, exact
        result.add(
            Charge(
                department_id=department_id,
                charge=Kind.USAGE,
                vendor_id=vendor_id,
                model=model,
                token_class=token_class,
                ref="",
                tokens=tokens,
                amount=round_half_up(tokens * rate, places),
                unit_price=round_half_up(rate * TOKENS_PER_PRICE_UNIT, COST_PLACES),
                description=f"{vendor_names.get(vendor_id, vendor_id)} {model} — {TokenClass(token_class).label}",
            )
        )


# True-ups --------------------------------------------------------------------------------------


def _true_up_charges(result: MonthCharges, *, first: date, end: date) -> None:
    rows = (
        TrueUp.objects.filter(period_end__gte=first, period_end__lt=end)
        .values("department_id", "vendor_id", "vendor__name", "model", "token_class")
        .annotate(tokens=Sum("tokens"), amount=Sum("adjustment_reporting"))
        .order_by("department_id", "vendor_id", "model", "token_class")
    )
    unconverted = TrueUp.objects.filter(
        period_end__gte=first, period_end__lt=end, adjustment_reporting__isnull=True
    ).count()
    if unconverted:
        result.warnings.append(f"{unconverted} true-ups have no reporting-currency amount (FX missing): left out")
    places = minor_units(result.currency)
    for row in rows:
        if row["amount"] is None:
            continue
        amount = round_half_up(Fraction(row["amount"]), places)
        if not amount:
            continue
        result.add(
            Charge(
                department_id=row["department_id"],
                charge=Kind.TRUE_UP,
                vendor_id=row["vendor_id"],
                model=row["model"],
                token_class=row["token_class"],
                ref="",
                tokens=0,
                amount=amount,
                unit_price=None,
                description=f"Volume true-up {row['vendor__name']} {row['model']} — "
                f"{TokenClass(row['token_class']).label} ({row['tokens']:,} tokens)",
            )
        )


# Shortfalls ------------------------------------------------------------------------------------


def _consumption_by_department(
    commitment: Commitment, *, vendor_id: int, start: date, end: date
) -> dict[int, Fraction]:
    rows = DailyRollup.objects.filter(vendor_id=vendor_id, day__gte=start, day__lte=end).values("department_id")
    if commitment.is_tokens:
        classes = commitment.token_classes or [c.value for c in CLASSES]
        rows = rows.annotate(**{c: Sum(TOKEN_COLUMNS[TokenClass(c)]) for c in classes})
        return {r["department_id"]: Fraction(sum(int(r[c] or 0) for c in classes)) for r in rows}
    rows = rows.annotate(cost=Sum("agreement_cost"))
    return {r["department_id"]: Fraction(r["cost"] or 0) for r in rows}


def _split_pro_rata(total: Fraction, weights: dict[int, Fraction], places: int) -> dict[int, Decimal]:
    """Each department's share of `total` in proportion to its weight, each rounded half up (a
    line is rounded on its own: DESIGN.md)."""
    whole = sum(weights.values(), Fraction(0))
    if whole <= 0:
        return {}
    return {key: round_half_up(total * weight / whole, places) for key, weight in sorted(weights.items()) if weight}


def _shortfall_charges(result: MonthCharges, *, first: date, end: date, fx: FxTable) -> None:
    from billing.selectors.commitments import commitment_statuses

    places = minor_units(result.currency)
    agreements = (
        Agreement.objects.filter(start__lt=end, commitments__treatment=Commitment.Treatment.TAKE_OR_PAY)
        .exclude(status=Agreement.Status.DRAFT)
        .select_related("vendor")
        .distinct()
    )
    for agreement in agreements:
        for commitment in agreement.commitments.filter(treatment=Commitment.Treatment.TAKE_OR_PAY):
            periods = pricing_periods(
                agreement_start=agreement.start, agreement_end=agreement.end, commitment_period=commitment.period
            )
            for period_start, period_end in periods:
                if not (first <= period_end < end):
                    continue
                status = next(
                    s for s in commitment_statuses(agreement=agreement, as_of=period_end) if s.id == commitment.pk
                )
                if status.shortfall_charge <= 0:
                    continue
                try:
                    rate = fx_fraction(fx.quote(agreement.currency, result.currency, period_end))
                except FxUnavailable as exc:
                    result.warnings.append(f"Shortfall of {agreement.reference} left out: {exc}")
                    continue
                total = Fraction(status.shortfall_charge) * rate
                if commitment.shortfall_allocation == Commitment.Allocation.PRO_RATA:
                    weights = _consumption_by_department(
                        commitment, vendor_id=agreement.vendor_id, start=period_start, end=period_end
                    )
                    shares = _split_pro_rata(total, weights, places)
                else:
                    shares = {}
                if not shares:  # central, or pro rata with nothing consumed to share it by
                    department = commitment.central_department_id or _central_fallback()
                    shares = {department: round_half_up(total, places)}
                description = (
                    f"Commitment shortfall {agreement.reference} "
                    f"({period_start:%Y-%m-%d} – {period_end:%Y-%m-%d}): "
                    f"{status.shortfall_charge.normalize():f} {agreement.currency}"
                )
                for department_id, amount in shares.items():
                    result.add(
                        Charge(
                            department_id=department_id,
                            charge=Kind.SHORTFALL,
                            vendor_id=agreement.vendor_id,
                            model="",
                            token_class="",
                            ref=f"commitment:{commitment.pk}:{period_end.isoformat()}",
                            tokens=0,
                            amount=amount,
                            unit_price=None,
                            description=description,
                            reference={
                                "commitment": commitment.pk,
                                "agreement": agreement.reference,
                                "period_start": period_start.isoformat(),
                                "period_end": period_end.isoformat(),
                                "allocation": commitment.shortfall_allocation,
                            },
                        )
                    )


def _central_fallback() -> int:
    from procurement.selectors import unallocated_department

    return unallocated_department().pk


# SLA credits -----------------------------------------------------------------------------------


def _sla_credit_charges(result: MonthCharges, *, first: date, end: date, fx: FxTable) -> None:
    credits = SlaCredit.objects.filter(
        status=SlaCredit.Status.RECEIVED, received_on__gte=first, received_on__lt=end, credit__gt=0
    ).select_related("agreement")
    places = minor_units(result.currency)
    for credit in credits:
        agreement = credit.agreement
        try:
            rate = fx_fraction(fx.quote(credit.currency, result.currency, credit.received_on))
        except FxUnavailable as exc:
            result.warnings.append(f"SLA credit {credit.pk} left out: {exc}")
            continue
        total = -Fraction(credit.credit) * rate
        patterns = list(credit.models_in_scope or [])
        rows = (
            DailyRollup.objects.filter(
                vendor_id=agreement.vendor_id, day__gte=credit.period, day__lt=next_month(credit.period)
            )
            .values("department_id", "model")
            .annotate(cost=Sum("cost"))
        )
        weights: dict[int, Fraction] = defaultdict(Fraction)
        for row in rows:
            if not patterns or any(fnmatchcase(row["model"], p) for p in patterns):
                weights[row["department_id"]] += Fraction(row["cost"] or 0)
        shares = _split_pro_rata(total, weights, places) or {_central_fallback(): round_half_up(total, places)}
        for department_id, amount in shares.items():
            result.add(
                Charge(
                    department_id=department_id,
                    charge=Kind.SLA_CREDIT,
                    vendor_id=agreement.vendor_id,
                    model="",
                    token_class="",
                    ref=f"sla:{credit.pk}",
                    tokens=0,
                    amount=amount,
                    unit_price=None,
                    description=f"SLA credit {agreement.reference} {credit.metric} for {credit.period:%Y-%m}",
                    reference={"sla_credit": credit.pk, "agreement": agreement.reference},
                )
            )


# The month ------------------------------------------------------------------------------------


def month_charges(month: date, *, currency: str) -> MonthCharges:
    """Every department's charges for `month` (its first day) in the reporting `currency`."""
    first, end = month, next_month(month)
    result = MonthCharges(month=month, currency=currency)
    fx = FxTable.load(first, end, reporting_currency=currency)
    _usage_charges(result, first=first, end=end, fx=fx)
    _true_up_charges(result, first=first, end=end)
    _shortfall_charges(result, first=first, end=end, fx=fx)
    _sla_credit_charges(result, first=first, end=end, fx=fx)
    return result
