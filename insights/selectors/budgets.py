"""Budget burn for the dashboard: every budget of the fiscal year at once, from one grouped query.

billing.selectors.budget_status answers for one budget with its own rollup queries, which is right
for a budget's page but would cost queries per budget on a home page that lists them all. Here
the fiscal year's spend per department × vendor, and per department × vendor × month (one query,
shared with the year-to-date figures), is summed over each budget's subtree in Python — each
department's sums once, then each budget adds those of its departments (a descendant map built
from one query of the tree) — and the figures are made exactly as budget_status makes them, with
billing's own helpers (phasing to date, projection, projected crossing, first day reaching). The
budgets whose year's amount is already exceeded need the day it happened: their month series
give the month it happened in, and one more query reads that month's days (and those of months
with a negative true-up) for their subtrees. insights/tests/test_dashboard_budgets.py holds the
two to the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TypeVar

from billing.projections import ARITHMETIC_PRECISION, budget_projection, projected_crossing
from billing.selectors.budgets import budget_to_date, crossing_day_totals, crossing_months, first_days_reaching
from core.money import COST_QUANTUM
from procurement.models import Budget, Department
from procurement.selectors import budget_phasing, fiscal_year_bounds

PERCENT_QUANTUM = Decimal("0.01")  # as billing's statuses give percentages
T = TypeVar("T")


@dataclass(frozen=True)
class BudgetBurn:
    """The figures of billing.selectors.BudgetStatus the dashboard shows, for one budget."""

    budget: Budget
    currency: str
    annual: Decimal
    actual: Decimal
    budget_to_date: Decimal
    percent_used: Decimal | None  # of the annual amount
    projection_method: str
    projected_year_end: Decimal
    projected_overrun_date: date | None

    @property
    def variance_to_date(self) -> Decimal:
        """Negative when spending ahead of the plan to date."""
        return self.budget_to_date - self.actual

    @property
    def exceeded(self) -> bool:
        return self.actual > self.annual


def _quantize(value: Decimal, quantum: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = ARITHMETIC_PRECISION
        return value.quantize(quantum, rounding=ROUND_HALF_UP)


def _subtrees(roots: Iterable[int]) -> dict[int, list[int]]:
    """Each root department with every department below it (one query for the whole tree)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept_id, parent_id in Department.objects.values_list("id", "parent_id"):
        children[parent_id].append(dept_id)
    trees: dict[int, list[int]] = {}
    for root in roots:
        seen: set[int] = set()
        stack = [root]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(children.get(current, ()))
        trees[root] = sorted(seen)
    return trees


def _in_tree(tree: list[int], by_department: dict[int, dict[int, T]], vendor_id: int | None) -> Iterator[T]:
    """The values `by_department` (department → vendor → value) holds for the tree's departments,
    only `vendor_id`'s when the budget names one."""
    for department_id in tree:
        for vendor, value in by_department.get(department_id, {}).items():
            if not vendor_id or vendor == vendor_id:
                yield value


def _series(tree: list[int], by_department: dict[int, dict[int, dict[date, Decimal]]], vendor_id: int | None):
    """The tree's (day or month, cost) in order: the per-department series summed."""
    total: dict[date, Decimal] = defaultdict(Decimal)
    for costs in _in_tree(tree, by_department, vendor_id):
        for key, cost in costs.items():
            total[key] += cost
    return sorted(total.items())


def _overrun_days(
    exceeded: list[tuple[Budget, Decimal, list[tuple[date, Decimal]]]],
    trees: dict[int, list[int]],
    *,
    first: date,
    last: date,
) -> dict[int, date | None]:
    """For budgets whose annual amount the spend has passed (with their month series): the first
    day at whose end the cumulative spend exceeded it, as budget_status dates it, from the days of
    the months it happened in (one query for them all)."""
    if not exceeded:
        return {}
    wanted: set[date] = set()
    departments: set[int] = set()
    for budget, annual, months in exceeded:
        wanted |= crossing_months(months, [(annual, True)])
        departments.update(trees[budget.department_id])
    rows = crossing_day_totals(departments, wanted, first=first, last=last, by_department_vendor=True)
    # department → vendor → {day: cost}, then each budget sums its departments' days
    by_department: dict[int, dict[int, dict[date, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for day, department_id, vendor_id, cost in rows:
        by_department[department_id][vendor_id][day] = cost or Decimal(0)
    found: dict[int, date | None] = {}
    for budget, annual, months in exceeded:
        days: dict[date, list[tuple[date, Decimal]]] = defaultdict(list)
        for day, cost in _series(trees[budget.department_id], by_department, budget.vendor_id):
            days[day.replace(day=1)].append((day, cost))
        (found[budget.pk],) = first_days_reaching(months, days, [(annual, True)])
    return found


def budget_burn(
    budgets: list[Budget], *, month_costs: list[tuple[int, int, date, Decimal]], start_month: int, as_of: date
) -> list[BudgetBurn]:
    """`month_costs`: the fiscal year's cost to `as_of` per department × vendor × month, as
    (department id, vendor id, first day of the month, cost) — of every department in the
    budgets' subtrees. The budgets are all of the fiscal year `as_of` falls in. The most used
    first."""
    if not budgets:
        return []
    trees = _subtrees({budget.department_id for budget in budgets})
    year_by_department: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    month_by_department: dict[int, dict[int, dict[date, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for department_id, vendor_id, month, cost in month_costs:
        year_by_department[department_id][vendor_id] += cost
        month_by_department[department_id][vendor_id][month] = cost
    burns, exceeded = [], []
    with localcontext() as ctx:
        ctx.prec = ARITHMETIC_PRECISION
        for budget in budgets:
            first, last = fiscal_year_bounds(budget.fiscal_year, start_month)
            year_days = (last - first).days + 1
            elapsed_days = max(0, min((as_of - first).days + 1, year_days))
            tree = trees[budget.department_id]
            spent = sum(_in_tree(tree, year_by_department, budget.vendor_id), Decimal(0))
            actual = _quantize(spent, COST_QUANTUM)
            annual = _quantize(budget.amount, COST_QUANTUM)
            projection = budget_projection(
                actual=actual, elapsed_days=elapsed_days, year_days=year_days, quantum=COST_QUANTUM
            )
            if actual > annual:  # already happened: dated from the days of the month it happened in
                overrun = None
                exceeded.append(budget)
            else:
                day = projected_crossing(to_date=actual, elapsed_days=elapsed_days, period_days=year_days, limit=annual)
                overrun = first + timedelta(days=day - 1) if day else None
            percent = (actual * 100 / annual).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_UP) if annual > 0 else None
            burns.append(
                BudgetBurn(
                    budget=budget,
                    currency=budget.currency,
                    annual=annual,
                    actual=actual,
                    budget_to_date=budget_to_date(budget_phasing(budget, start_month=start_month), as_of=as_of),
                    percent_used=percent,
                    projection_method=projection.method,
                    projected_year_end=projection.end,
                    projected_overrun_date=overrun,
                )
            )
        if exceeded:
            annuals = {burn.budget.pk: burn.annual for burn in burns}
            series = [
                (
                    budget,
                    annuals[budget.pk],
                    _series(trees[budget.department_id], month_by_department, budget.vendor_id),
                )
                for budget in exceeded
            ]
            first, last = fiscal_year_bounds(exceeded[0].fiscal_year, start_month)
            days = _overrun_days(series, trees, first=first, last=min(as_of, last))
            burns = [
                replace(burn, projected_overrun_date=days[burn.budget.pk]) if burn.budget.pk in days else burn
                for burn in burns
            ]
    burns.sort(
        key=lambda burn: (
            -(burn.percent_used if burn.percent_used is not None else Decimal(-1)),
            burn.budget.department.code,
            burn.budget.vendor.slug if burn.budget.vendor_id else "",
        )
    )
    return burns


def budget_month_actuals(
    budgets: list[Budget], *, month_costs: list[tuple[int, int, date, Decimal]], month: date
) -> dict[int, Decimal]:
    """Each budget's spend in one month (its first day), summed over its subtree (and vendor) as
    budget_burn sums the year: budget id → cost."""
    trees = _subtrees({budget.department_id for budget in budgets})
    in_month: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for department_id, vendor_id, first, cost in month_costs:
        if first == month:
            in_month[department_id][vendor_id] += cost
    return {
        budget.pk: _quantize(
            sum(_in_tree(trees[budget.department_id], in_month, budget.vendor_id), Decimal(0)), COST_QUANTUM
        )
        for budget in budgets
    }


def top_level_budgets(budgets: list[Budget]) -> list[Budget]:
    """The budgets that no other budget of the list contains: company-wide (no vendor) budgets
    whose department has no ancestor with one. Their amounts add up without counting a
    department twice (a vendor budget is a part of its department's, never added)."""
    overall = {budget.department_id for budget in budgets if not budget.vendor_id}
    parents = dict(Department.objects.values_list("id", "parent_id"))

    def has_budgeted_ancestor(department_id: int) -> bool:
        seen: set[int] = set()
        parent = parents.get(department_id)
        while parent is not None and parent not in seen:
            if parent in overall:
                return True
            seen.add(parent)
            parent = parents.get(parent)
        return False

    return [budget for budget in budgets if not budget.vendor_id and not has_budgeted_ancestor(budget.department_id)]
