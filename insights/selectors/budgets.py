"""Budget burn for the dashboard: every budget of the fiscal year at once, from one grouped query.

billing.selectors.budget_status answers for one budget with its own rollup queries (the day
series and the vendor split of the budget's subtree), which is right for a budget's page but
would cost four queries per budget on a home page that lists them all. Here the fiscal year's
spend per department × vendor (one query, shared with the year-to-date figures) is summed over
each budget's subtree in Python, and the figures are made exactly as budget_status makes them,
with billing's own helpers (phasing to date, projection, projected crossing). The budgets whose
year's amount is already exceeded need the day it happened: one more query gives the day series
of their subtrees. insights/tests/test_dashboard_budgets.py holds the two to the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db import connection

from billing.projections import ARITHMETIC_PRECISION, budget_projection, projected_crossing
from billing.selectors.budgets import budget_to_date
from core.money import COST_QUANTUM
from procurement.models import Budget, Department
from procurement.selectors import budget_phasing, fiscal_year_bounds

PERCENT_QUANTUM = Decimal("0.01")  # as billing's statuses give percentages


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


def _subtrees(roots: Iterable[int]) -> dict[int, set[int]]:
    """Each root department with every department below it (one query for the whole tree)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept_id, parent_id in Department.objects.values_list("id", "parent_id"):
        children[parent_id].append(dept_id)
    trees: dict[int, set[int]] = {}
    for root in roots:
        seen: set[int] = set()
        stack = [root]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(children.get(current, ()))
        trees[root] = seen
    return trees


def _in_scope(budget: Budget, scope: set[int], department_id: int, vendor_id: int) -> bool:
    return department_id in scope and (not budget.vendor_id or vendor_id == budget.vendor_id)


def _overrun_days(
    exceeded: list[tuple[Budget, Decimal]], trees: dict[int, set[int]], *, first: date, last: date
) -> dict[int, date | None]:
    """For budgets whose annual amount the spend has passed: the first day at whose end the
    cumulative spend exceeded it (as budget_status dates it), from one query of the day series
    read once in day order."""
    if not exceeded:
        return {}
    # (department, vendor) → the budgets it counts in; a budget of every vendor listens on vendor None
    listeners: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    for index, (budget, _) in enumerate(exceeded):
        for department_id in trees[budget.department_id]:
            listeners[(department_id, budget.vendor_id)].append(index)
    departments = sorted({department_id for department_id, _ in listeners})
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.day, r.department_id, r.vendor_id, sum(r.cost) FROM usage_daily_rollup r
               WHERE r.department_id = ANY(%s) AND r.day >= %s AND r.day <= %s GROUP BY 1, 2, 3 ORDER BY 1""",
            [departments, first, last],
        )
        rows = cursor.fetchall()
    running = [Decimal(0)] * len(exceeded)
    found: dict[int, date | None] = {budget.pk: None for budget, _ in exceeded}

    def close(day: date) -> None:
        for index, (budget, annual) in enumerate(exceeded):
            if found[budget.pk] is None and running[index] > annual:
                found[budget.pk] = day

    current = None
    for day, department_id, vendor_id, cost in rows:
        if day != current:
            if current is not None:
                close(current)
            current = day
        for key in ((department_id, None), (department_id, vendor_id)):
            for index in listeners.get(key, ()):
                running[index] += cost or 0
    if current is not None:
        close(current)
    return found


def budget_burn(
    budgets: list[Budget], *, year_costs: dict[tuple[int, int], Decimal], start_month: int, as_of: date
) -> list[BudgetBurn]:
    """`year_costs`: the fiscal year's cost to `as_of` per (department id, vendor id) — of every
    department in the budgets' subtrees. The budgets are all of the fiscal year `as_of` falls
    in. The most used first."""
    if not budgets:
        return []
    trees = _subtrees({budget.department_id for budget in budgets})
    burns, exceeded = [], []
    for budget in budgets:
        first, last = fiscal_year_bounds(budget.fiscal_year, start_month)
        year_days = (last - first).days + 1
        elapsed_days = max(0, min((as_of - first).days + 1, year_days))
        scope = trees[budget.department_id]
        spent = sum((cost for (d, v), cost in year_costs.items() if _in_scope(budget, scope, d, v)), Decimal(0))
        actual = _quantize(spent, COST_QUANTUM)
        annual = _quantize(budget.amount, COST_QUANTUM)
        projection = budget_projection(
            actual=actual, elapsed_days=elapsed_days, year_days=year_days, quantum=COST_QUANTUM
        )
        if actual > annual:  # already happened: dated from the day series below
            overrun = None
            exceeded.append((budget, annual))
        else:
            day = projected_crossing(to_date=actual, elapsed_days=elapsed_days, period_days=year_days, limit=annual)
            overrun = first + timedelta(days=day - 1) if day else None
        with localcontext() as ctx:
            ctx.prec = ARITHMETIC_PRECISION
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
        first, last = fiscal_year_bounds(exceeded[0][0].fiscal_year, start_month)
        days = _overrun_days(exceeded, trees, first=first, last=min(as_of, last))
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
