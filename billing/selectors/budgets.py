"""Budget status: a budget's actual spend against its phasing, and where the year is heading.

Read from the daily rollups only (one query for the days, one for the vendor split). The scope is
the budget's department and all its sub-departments (procurement.directory.descendant_ids),
and only the budget's vendor when it names one. Costs are the rollups' `cost`, in the reporting
currency (the budget's), volume true-ups included on the day they are booked.

* actual — the scope's cost from the fiscal year's first day through `as_of` (clamped to the year).
* budget_to_date — the phased amounts (procurement.selectors.budget_phasing, even or explicit) of
  the months that have ended, plus the current month's amount pro rata: amount × days elapsed
  in the month (as_of's day of month) ÷ days in the month.
* percent_used = actual ÷ annual × 100.
* projected_year_end (low / high): billing.projections.budget_projection — linear for now.
* projected_overrun_date — the first day the cumulative spend exceeds the annual amount: from
  the data when it already has, else where the projection crosses it (None if it stays within
  the fiscal year's budget).
* thresholds — each percentage's amount, whether the actual has reached it and on which day.
* months — per fiscal month: phased budget, actual (month to date; None after `as_of`), and
  both cumulatively. vendors — the actual per vendor, when the budget covers all vendors.

Rounding: money has 12 decimal places (exact sums of stored costs; pro rata and projections
rounded half up), percentages 2 places.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from core.money import COST_QUANTUM
from core.selectors import organization_settings
from procurement.directory import descendant_ids
from procurement.models import Budget
from procurement.selectors import budget_phasing, fiscal_year_bounds
from usage.models import DailyRollup

from ..projections import budget_projection, projected_crossing
from ._decimal import exact_decimal, percent, pro_rata, quantize


@dataclass(frozen=True)
class BudgetMonth:
    month: date  # first day
    budget: Decimal
    actual: Decimal | None  # None: the month starts after as_of
    cumulative_budget: Decimal
    cumulative_actual: Decimal | None


@dataclass(frozen=True)
class BudgetThreshold:
    percent: Decimal
    amount: Decimal
    crossed: bool
    crossed_on: date | None


@dataclass(frozen=True)
class BudgetVendorActual:
    vendor_id: int
    slug: str
    name: str
    actual: Decimal
    share: Decimal | None  # percent of the budget's actual


@dataclass(frozen=True)
class BudgetStatus:
    id: int
    currency: str
    fiscal_year: int
    first_day: date
    last_day: date
    as_of: date
    elapsed_days: int
    year_days: int
    annual: Decimal
    actual: Decimal
    budget_to_date: Decimal
    variance_to_date: Decimal  # budget_to_date − actual: negative when spending ahead of plan
    percent_used: Decimal | None
    projection_method: str
    projected_year_end: Decimal
    projected_low: Decimal
    projected_high: Decimal
    projected_overrun_date: date | None
    thresholds: tuple[BudgetThreshold, ...]
    months: tuple[BudgetMonth, ...]
    vendors: tuple[BudgetVendorActual, ...]
    unpriced_records: int  # records in scope without a cost in the reporting currency (not in actual)

    @property
    def thresholds_crossed(self) -> list[Decimal]:
        return [t.percent for t in self.thresholds if t.crossed]


def _money(value: Decimal) -> Decimal:
    return quantize(value, COST_QUANTUM)


def _month_last_day(first: date) -> date:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


@exact_decimal
def budget_to_date(phasing: list[tuple[date, Decimal]], *, as_of: date) -> Decimal:
    """Ended months in full; the current month pro rata by days elapsed (as_of's day ÷ the
    month's days); later months not at all."""
    total = Decimal(0)
    for first, amount in phasing:
        last = _month_last_day(first)
        if as_of >= last:
            total += amount
        elif as_of >= first:
            total += pro_rata(amount, (as_of - first).days + 1, (last - first).days + 1, COST_QUANTUM)
    return _money(total)


def _scope(budget: Budget, *, first: date, last: date):
    """The rollups the budget covers: its department's subtree, its vendor if it names one."""
    department_ids = sorted(descendant_ids([budget.department_id]))
    rollups = DailyRollup.objects.filter(department_id__in=department_ids, day__gte=first, day__lte=last)
    return rollups.filter(vendor_id=budget.vendor_id) if budget.vendor_id else rollups


def _first_day_reaching(daily: list[tuple[date, Decimal]], amount: Decimal, *, strictly: bool) -> date | None:
    running = Decimal(0)
    for day, cost in daily:
        running += cost
        if running > amount or (not strictly and running >= amount):
            return day
    return None


@exact_decimal
def budget_status(*, budget: Budget, as_of: date) -> BudgetStatus:
    start_month = organization_settings().fiscal_year_start_month
    first, last = fiscal_year_bounds(budget.fiscal_year, start_month)
    phasing = budget_phasing(budget, start_month=start_month)
    year_days = (last - first).days + 1
    elapsed_days = max(0, min((as_of - first).days + 1, year_days))
    counted_to = min(as_of, last)

    daily: list[tuple[date, Decimal]] = []
    unpriced = 0
    vendors: list[BudgetVendorActual] = []
    if elapsed_days:
        scope = _scope(budget, first=first, last=counted_to)
        rows = scope.values("day").annotate(day_cost=Sum("cost"), day_unpriced=Sum("unpriced_records")).order_by("day")
        for row in rows:
            daily.append((row["day"], row["day_cost"] or Decimal(0)))
            unpriced += int(row["day_unpriced"] or 0)
    actual = _money(sum((cost for _, cost in daily), Decimal(0)))
    if elapsed_days and not budget.vendor_id:
        split = (
            scope.values("vendor_id", "vendor__slug", "vendor__name")
            .annotate(vendor_cost=Sum("cost"))
            .order_by("-vendor_cost", "vendor__slug")
        )
        vendors = [
            BudgetVendorActual(
                vendor_id=row["vendor_id"],
                slug=row["vendor__slug"],
                name=row["vendor__name"],
                actual=_money(row["vendor_cost"] or Decimal(0)),
                share=percent(row["vendor_cost"] or Decimal(0), actual),
            )
            for row in split
        ]

    annual = _money(budget.amount)
    projection = budget_projection(actual=actual, elapsed_days=elapsed_days, year_days=year_days, quantum=COST_QUANTUM)
    if actual > annual:
        overrun = _first_day_reaching(daily, annual, strictly=True)
    else:
        day_number = projected_crossing(to_date=actual, elapsed_days=elapsed_days, period_days=year_days, limit=annual)
        overrun = first + timedelta(days=day_number - 1) if day_number else None

    thresholds = []
    for threshold in budget.thresholds:
        amount = _money(annual * threshold / 100)
        crossed = actual > 0 and actual >= amount
        thresholds.append(
            BudgetThreshold(
                percent=threshold,
                amount=amount,
                crossed=crossed,
                crossed_on=_first_day_reaching(daily, amount, strictly=False) if crossed else None,
            )
        )

    months: list[BudgetMonth] = []
    cumulative_budget = cumulative_actual = Decimal(0)
    for month_first, amount in phasing:
        cumulative_budget += amount
        if month_first > as_of:
            actual_month = None
        else:
            month_last = _month_last_day(month_first)
            actual_month = _money(sum((c for d, c in daily if month_first <= d <= month_last), Decimal(0)))
            cumulative_actual += actual_month
        months.append(
            BudgetMonth(
                month=month_first,
                budget=_money(amount),
                actual=actual_month,
                cumulative_budget=_money(cumulative_budget),
                cumulative_actual=None if actual_month is None else _money(cumulative_actual),
            )
        )

    to_date = budget_to_date(phasing, as_of=as_of)
    return BudgetStatus(
        id=budget.pk,
        currency=budget.currency,
        fiscal_year=budget.fiscal_year,
        first_day=first,
        last_day=last,
        as_of=as_of,
        elapsed_days=elapsed_days,
        year_days=year_days,
        annual=annual,
        actual=actual,
        budget_to_date=to_date,
        variance_to_date=to_date - actual,
        percent_used=percent(actual, annual),
        projection_method=projection.method,
        projected_year_end=projection.end,
        projected_low=projection.low,
        projected_high=projection.high,
        projected_overrun_date=overrun,
        thresholds=tuple(thresholds),
        months=tuple(months),
        vendors=tuple(vendors),
        unpriced_records=unpriced,
    )
