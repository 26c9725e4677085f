"""Budget status: a budget's actual spend against its phasing, and where the year is heading.

Read from the rollups only: one query gives the year's cost per month × vendor (whole months from
the monthly rollups, the month in progress from the daily ones: usage.rollups), and only when a
day must be named — a threshold reached, the overrun that already happened — one more reads the
days of the month it happened in (`first_days_reaching`). The scope is the budget's department
and all its sub-departments (procurement.directory.descendant_ids), and only the budget's vendor
when it names one. Costs are the rollups' `cost`, in the reporting currency (the budget's),
volume true-ups included on the day they are booked.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection

from core.money import COST_QUANTUM
from core.selectors import organization_settings
from procurement.directory import descendant_ids
from procurement.models import Budget
from procurement.selectors import budget_phasing, fiscal_year_bounds
from usage.rollups import MONTH_OF_DAY, last_day_to_end, rollup_rows

from ..projections import budget_projection, forecast_crossing, forecast_projection, projected_crossing
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


# Crossing days from month totals ---------------------------------------------------------------
#
# A budget's cumulative spend reaches an amount on some day. Records' costs are never negative, so
# within a month without a negative true-up (the only negative rollup rows) the cumulative spend
# only grows: the day an amount is first reached lies in the first month at whose end the total
# reaches it, or in an earlier month with a negative true-up (the total may rise past the amount
# and fall back within it). Only those months' days are read; the other months count whole.

Target = tuple[Decimal, bool]  # an amount, and whether it must be exceeded (else reached)


def _reached(running: Decimal, amount: Decimal, strictly: bool) -> bool:
    return running > amount or (not strictly and running >= amount)


def crossing_months(months: Sequence[tuple[date, Decimal]], targets: Sequence[Target]) -> set[date]:
    """The month (first day) at whose end the cumulative total first reaches each target, for the
    targets reached: `months` are (first day, total) in order, months without rollups left out."""
    found: set[date] = set()
    pending = list(targets)
    running = Decimal(0)
    for month, total in months:
        if not pending:
            break
        running += total
        reached = [target for target in pending if _reached(running, *target)]
        if reached:
            found.add(month)
            pending = [target for target in pending if target not in reached]
    return found


def first_days_reaching(
    months: Sequence[tuple[date, Decimal]], days: dict[date, list[tuple[date, Decimal]]], targets: Sequence[Target]
) -> list[date | None]:
    """The first day at whose end the cumulative spend reaches each target (None: never), from the
    month totals and the day totals (`days`: month → [(day, total)] in day order) of the months
    `crossing_day_totals` read — the crossing months and those with a negative true-up."""
    found: list[date | None] = [None] * len(targets)
    running = Decimal(0)
    for month, total in months:
        pending = [i for i, day in enumerate(found) if day is None]
        if not pending:
            break
        series = days.get(month)
        if series is None:  # no target is first reached in this month: it counts whole
            running += total
            continue
        for day, cost in series:
            running += cost
            for i in pending:
                if found[i] is None and _reached(running, *targets[i]):
                    found[i] = day
    return found


def crossing_day_totals(
    department_ids: Iterable[int],
    months: Iterable[date],
    *,
    first: date,
    last: date,
    vendor_id: int | None = None,
    by_department_vendor: bool = False,
) -> list[tuple]:
    """The day totals (day, cost) — or (day, department id, vendor id, cost) — in day order, of
    `months` and of every month before the last of them with a negative true-up, over the
    departments (and the vendor) in [first, last]."""
    months = sorted(set(months))
    if not months:
        return []
    departments = sorted(department_ids) or [-1]
    vendor = " AND r.vendor_id = %(vendor)s" if vendor_id else ""
    keys = "r.day, r.department_id, r.vendor_id" if by_department_vendor else "r.day"
    sql = f"""
        WITH wanted AS (
            SELECT unnest(%(months)s::date[]) AS first
            UNION
            SELECT {MONTH_OF_DAY} FROM usage_daily_rollup r
            WHERE r.true_up_cost < 0 AND r.department_id = ANY(%(departments)s)
              AND r.day >= %(first)s AND r.day < %(before)s{vendor}
        )
        SELECT {keys}, sum(r.cost)
        FROM wanted w CROSS JOIN LATERAL (
            SELECT r.day, r.department_id, r.vendor_id, r.cost FROM usage_daily_rollup r
            WHERE r.department_id = ANY(%(departments)s) AND r.day >= w.first
              AND r.day < (w.first + interval '1 month')::date AND r.day >= %(first)s AND r.day <= %(last)s{vendor}
            OFFSET 0  -- a fence: the index is read for each month, never the whole year
        ) r
        GROUP BY {keys} ORDER BY {keys}
    """
    params = {
        "months": months,
        "departments": departments,
        "first": first,
        "last": last,
        "before": months[-1],
        "vendor": vendor_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _month_vendor_totals(department_ids: list[int], vendor_id: int | None, *, first: date, last: date) -> list[tuple]:
    """(month, vendor id, slug, name, cost, unpriced records) over [first, last]."""
    where = "r.department_id = ANY(%s)" + (" AND r.vendor_id = %s" if vendor_id else "")
    rows_sql, params = rollup_rows(
        first,
        last_day_to_end(last),
        columns=("month", "vendor_id", "cost", "unpriced_records"),
        where=where,
        params=[department_ids or [-1], *([vendor_id] if vendor_id else [])],
    )
    sql = f"""
        SELECT g.month, g.vendor_id, v.slug, v.name, g.cost, g.unpriced
        FROM (
            SELECT r.month, r.vendor_id, sum(r.cost) AS cost, sum(r.unpriced_records) AS unpriced
            FROM ({rows_sql}) r GROUP BY 1, 2
        ) g JOIN procurement_vendor v ON v.id = g.vendor_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@exact_decimal
def budget_status(*, budget: Budget, as_of: date) -> BudgetStatus:
    start_month = organization_settings().fiscal_year_start_month
    first, last = fiscal_year_bounds(budget.fiscal_year, start_month)
    phasing = budget_phasing(budget, start_month=start_month)
    year_days = (last - first).days + 1
    elapsed_days = max(0, min((as_of - first).days + 1, year_days))
    counted_to = min(as_of, last)

    by_month: dict[date, Decimal] = {}
    by_vendor: dict[int, list] = {}  # vendor id → [slug, name, cost]
    unpriced = 0
    department_ids: list[int] = []
    if elapsed_days:
        department_ids = sorted(descendant_ids([budget.department_id]))
        rows = _month_vendor_totals(department_ids, budget.vendor_id, first=first, last=counted_to)
        for month, vendor_id, slug, name, cost, vendor_unpriced in rows:
            cost = cost or Decimal(0)
            by_month[month] = by_month.get(month, Decimal(0)) + cost
            by_vendor.setdefault(vendor_id, [slug, name, Decimal(0)])[2] += cost
            unpriced += int(vendor_unpriced or 0)
    months_spent = sorted(by_month.items())
    actual = _money(sum(by_month.values(), Decimal(0)))
    vendors: list[BudgetVendorActual] = []
    if not budget.vendor_id:
        ranked = sorted(by_vendor.items(), key=lambda item: (-item[1][2], item[1][0]))
        vendors = [
            BudgetVendorActual(
                vendor_id=vendor_id, slug=slug, name=name, actual=_money(cost), share=percent(cost, actual)
            )
            for vendor_id, (slug, name, cost) in ranked
        ]

    annual = _money(budget.amount)
    amounts = [_money(annual * threshold / 100) for threshold in budget.thresholds]
    crossed = [actual > 0 and actual >= amount for amount in amounts]
    # the days to name: the overrun if it already happened, each threshold reached
    targets: list[Target] = [(amount, False) for amount, hit in zip(amounts, crossed, strict=True) if hit]
    if actual > annual:
        targets.append((annual, True))
    days_reached: list[date | None] = []
    if targets:
        daily: dict[date, list[tuple[date, Decimal]]] = {}
        wanted = crossing_months(months_spent, targets)
        for day, cost in crossing_day_totals(
            department_ids, wanted, first=first, last=counted_to, vendor_id=budget.vendor_id
        ):
            daily.setdefault(day.replace(day=1), []).append((day, cost or Decimal(0)))
        days_reached = first_days_reaching(months_spent, daily, targets)
    reached = iter(days_reached)

    forecast = forecast_projection(
        subject=f"budget:{budget.pk}", metric="cost", to_date=actual, as_of=as_of, period_end=last, quantum=COST_QUANTUM
    )
    projection = forecast or budget_projection(
        actual=actual, elapsed_days=elapsed_days, year_days=year_days, quantum=COST_QUANTUM
    )
    crossed_on = [next(reached) if hit else None for hit in crossed]
    if actual > annual:
        overrun = next(reached)
    elif forecast is not None:
        overrun = forecast_crossing(forecast, to_date=actual, limit=annual)
    else:
        day_number = projected_crossing(to_date=actual, elapsed_days=elapsed_days, period_days=year_days, limit=annual)
        overrun = first + timedelta(days=day_number - 1) if day_number else None

    thresholds = [
        BudgetThreshold(percent=threshold, amount=amount, crossed=hit, crossed_on=day)
        for threshold, amount, hit, day in zip(budget.thresholds, amounts, crossed, crossed_on, strict=True)
    ]

    months: list[BudgetMonth] = []
    cumulative_budget = cumulative_actual = Decimal(0)
    for month_first, amount in phasing:
        cumulative_budget += amount
        if month_first > as_of:
            actual_month = None
        else:
            actual_month = _money(by_month.get(month_first, Decimal(0)))
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
