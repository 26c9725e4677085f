"""The dashboard's figures (the home page and its exports).

Every spend figure comes from the rollups, never from the usage records, so the page stays fast
over tens of millions of records. Three grouped queries cover every window the page shows — this
month and the same days of last month per department × vendor (and per model, cost only, for the
movers), the chart's 60 days per day × vendor (both from the daily rollups), and the fiscal
year's earlier months per department × vendor and per month from the monthly rollups, to which
this month to date is added (so the fiscal year, which also gives every budget's actual, reads
no day twice) — and the rest is Decimal arithmetic in Python.
Commitments come from billing.selectors.commitment_statuses_many (three queries for every active
agreement together: their commitments, the vendors' daily sums, the forecasts).
A department manager's figures hold only their departments and sub-departments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection

from billing.selectors import CommitmentStatus, commitment_statuses_many
from contracts.models import Agreement
from core.policy import VIEW, can, is_department_scoped
from core.scoping import visible_department_ids
from core.selectors import organization_settings
from procurement.models import Budget
from procurement.selectors import current_fiscal_year, fiscal_year_bounds

from .budgets import BudgetBurn, budget_burn

ZERO = Decimal(0)
CHART_DAYS = 60
TOP_MOVERS = 10


# Windows and sums ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def end_exclusive(self) -> date:
        """The day after the last (the explorer's and the summary API's `end`)."""
        return self.end + timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def month_to_date(as_of: date) -> Window:
    return Window(as_of.replace(day=1), as_of)


def same_days_last_month(as_of: date) -> Window:
    """The first `as_of.day` days of the month before, cut at that month's end: on 31 March the
    whole of February, on 15 March 1–15 February."""
    last_of_previous = as_of.replace(day=1) - timedelta(days=1)
    first = last_of_previous.replace(day=1)
    return Window(first, min(first + timedelta(days=as_of.day - 1), last_of_previous))


def fiscal_year_to_date(as_of: date, start_month: int) -> tuple[int, Window]:
    fiscal_year = current_fiscal_year(start_month, today=as_of)
    return fiscal_year, Window(fiscal_year_bounds(fiscal_year, start_month)[0], as_of)


@dataclass
class Spend:
    """Sums of rollup rows. `cost` is in the reporting currency with true-ups included;
    `list_cost` is what the same tokens cost at list price; `off_contract_cost` is the part of
    `cost` no price rule covered. Records without a price (or FX rate) are counted in
    `unpriced_records` and are in none of the costs."""

    cost: Decimal = ZERO
    list_cost: Decimal = ZERO
    off_contract_cost: Decimal = ZERO
    tokens: int = 0
    unpriced_records: int = 0

    def add(self, other: Spend) -> None:
        self.cost += other.cost
        self.list_cost += other.list_cost
        self.off_contract_cost += other.off_contract_cost
        self.tokens += other.tokens
        self.unpriced_records += other.unpriced_records

    @property
    def savings(self) -> Decimal:
        """Against list price: what the contracts saved (negative when they cost more)."""
        return self.list_cost - self.cost

    @property
    def is_empty(self) -> bool:
        return not (self.cost or self.list_cost or self.tokens or self.unpriced_records)


def total(spends: Iterable[Spend]) -> Spend:
    result = Spend()
    for spend in spends:
        result.add(spend)
    return result


@dataclass(frozen=True)
class Change:
    """A figure this month to date against the same days of last month."""

    current: Decimal
    previous: Decimal

    @property
    def delta(self) -> Decimal:
        return self.current - self.previous

    @property
    def percent(self) -> Decimal | None:
        """One decimal place; None when last month had nothing to compare with."""
        if not self.previous:
            return None
        return (self.delta * 100 / self.previous).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# What the page shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakdownRow:
    """One vendor's or one department's spend this month to date and in the same days of last
    month. `key` is the vendor's slug or the department's code."""

    key: str
    name: str
    current: Spend
    previous: Spend
    share: Decimal | None  # percent of this month's spend in scope

    @property
    def change(self) -> Change:
        return Change(self.current.cost, self.previous.cost)


@dataclass(frozen=True)
class Mover:
    """A department's spend on one vendor's model, this month to date against last month's same days."""

    department_code: str
    department_name: str
    vendor_slug: str
    vendor_name: str
    model: str
    change: Change


@dataclass(frozen=True)
class DailySpend:
    """Spend per vendor per day over the chart's window (a day without usage holds zero)."""

    window: Window
    days: list[date]
    vendors: list[tuple[str, str, list[Decimal]]]  # (slug, name, cost per day), largest first


@dataclass(frozen=True)
class CommitmentLine:
    agreement: Agreement
    status: CommitmentStatus


@dataclass
class Dashboard:
    as_of: date
    currency: str
    scoped: bool  # a department manager's view: their departments only
    fiscal_year: int
    month: Window
    previous_month: Window
    year: Window
    mtd: Spend
    previous_mtd: Spend
    ytd: Spend
    vendors: list[BreakdownRow]
    departments: list[BreakdownRow]
    movers: list[Mover]
    daily: DailySpend
    # None: this user does not see the panel (managers see no commitments: agreements are company-level)
    budgets: list[BudgetBurn] | None = None
    commitments: list[CommitmentLine] | None = None
    manages_no_department: bool = False  # a manager who has been given no department yet
    # The fiscal year's cost per (department id, vendor id, first day of the month) to `as_of`
    month_costs: list[tuple[int, int, date, Decimal]] = field(default_factory=list)

    @property
    def has_usage(self) -> bool:
        return not (self.mtd.is_empty and self.previous_mtd.is_empty and self.ytd.is_empty) or bool(self.daily.vendors)

    @property
    def mtd_change(self) -> Change:
        return Change(self.mtd.cost, self.previous_mtd.cost)

    @property
    def savings_percent_mtd(self) -> Decimal | None:
        return _percent(self.mtd.savings, self.mtd.list_cost)

    @property
    def off_contract_percent_mtd(self) -> Decimal | None:
        return _percent(self.mtd.off_contract_cost, self.mtd.cost)


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# The queries -----------------------------------------------------------------------------------

SUMS_SQL = """
    sum(r.cost) AS cost,
    sum(r.list_cost) AS list_cost,
    sum(r.off_contract_cost) AS off_contract_cost,
    sum(r.input_tokens + r.cached_input_tokens + r.cache_write_tokens + r.output_tokens)::bigint AS tokens,
    sum(r.unpriced_records)::bigint AS unpriced_records
"""


def _spend(cost, list_cost, off_contract_cost, tokens, unpriced) -> Spend:
    return Spend(cost or ZERO, list_cost or ZERO, off_contract_cost or ZERO, int(tokens or 0), int(unpriced or 0))


def _scope_sql(department_ids: frozenset[int] | None) -> tuple[str, list]:
    if department_ids is None:
        return "", []
    return " AND r.department_id = ANY(%s)", [sorted(department_ids) or [-1]]


def _month_rows(month: Window, previous: Window, department_ids: frozenset[int] | None) -> list[tuple]:
    """Spend per department × vendor × model in this month to date and in the same days of last
    month: (department id, code, name, vendor id, slug, name, model, is_current, cost, list cost,
    off-contract cost, tokens, unpriced records)."""
    scope, scope_params = _scope_sql(department_ids)
    sql = f"""
        SELECT g.department_id, d.code, d.name, g.vendor_id, v.slug, v.name, g.model, g.is_current,
               g.cost, g.list_cost, g.off_contract_cost, g.tokens, g.unpriced_records
        FROM (
            SELECT r.department_id, r.vendor_id, r.model, r.day >= %s AS is_current, {SUMS_SQL}
            FROM usage_daily_rollup r
            WHERE ((r.day >= %s AND r.day <= %s) OR (r.day >= %s AND r.day <= %s)){scope}
            GROUP BY 1, 2, 3, 4
        ) g
        JOIN procurement_department d ON d.id = g.department_id
        JOIN procurement_vendor v ON v.id = g.vendor_id
    """
    params = [month.start, month.start, month.end, previous.start, previous.end, *scope_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _daily_rows(window: Window, department_ids: frozenset[int] | None) -> list[tuple]:
    """Cost per day × vendor over `window`: (day, vendor slug, vendor name, cost)."""
    scope, scope_params = _scope_sql(department_ids)
    sql = f"""
        SELECT g.day, v.slug, v.name, g.cost
        FROM (
            SELECT r.day, r.vendor_id, sum(r.cost) AS cost
            FROM usage_daily_rollup r
            WHERE r.day >= %s AND r.day <= %s{scope}
            GROUP BY 1, 2
        ) g
        JOIN procurement_vendor v ON v.id = g.vendor_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [window.start, window.end, *scope_params])
        return cursor.fetchall()


def _year_months(year: Window, month: Window, department_ids: frozenset[int] | None) -> list[tuple]:
    """The fiscal year's months before this one, from the monthly rollups: (department id, vendor
    id, first day of the month, cost, list cost, off-contract cost, tokens, unpriced records)."""
    if year.start >= month.start:
        return []
    scope, scope_params = _scope_sql(department_ids)
    sql = f"""
        SELECT r.department_id, r.vendor_id, r.month, {SUMS_SQL}
        FROM usage_monthly_rollup r
        WHERE r.month >= %s AND r.month < %s{scope}
        GROUP BY 1, 2, 3
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [year.start, month.start, *scope_params])
        return cursor.fetchall()


# Assembling ------------------------------------------------------------------------------------


def _breakdown(keyed: dict[tuple[str, str], list[Spend]], month_total: Decimal) -> list[BreakdownRow]:
    rows = [
        BreakdownRow(
            key=key,
            name=name,
            current=current,
            previous=previous,
            share=_percent(current.cost, month_total) if month_total else None,
        )
        for (key, name), (current, previous) in keyed.items()
    ]
    rows.sort(key=lambda row: (-row.current.cost, -row.previous.cost, row.name.lower()))
    return rows


def _daily(window: Window, rows: list[tuple]) -> DailySpend:
    days = [window.start + timedelta(days=i) for i in range(window.days)]
    position = {day: i for i, day in enumerate(days)}
    series: dict[tuple[str, str], list[Decimal]] = {}
    for day, slug, name, cost in rows:
        values = series.setdefault((slug, name), [ZERO] * len(days))
        values[position[day]] += cost or ZERO
    ranked = sorted(series.items(), key=lambda item: (-sum(item[1]), item[0][1].lower()))
    return DailySpend(window=window, days=days, vendors=[(slug, name, values) for (slug, name), values in ranked])


def dashboard(*, user, as_of: date) -> Dashboard:
    """Everything the home page shows, as of the end of `as_of` (a UTC date): this month to date
    against the same days of last month, the fiscal year to date, the last 60 days by vendor,
    and — where the user may read them — budgets and commitments."""
    department_ids = visible_department_ids(user) if is_department_scoped(user, "dashboard") else None
    return spend_figures(
        department_ids=department_ids,
        as_of=as_of,
        with_budgets=can(user, "budget", VIEW),
        with_commitments=can(user, "agreement", VIEW),
    )


def spend_figures(
    *,
    department_ids: frozenset[int] | None,
    as_of: date,
    previous: Window | None = None,
    chart: Window | None = None,
    with_budgets: bool = True,
    with_commitments: bool = True,
) -> Dashboard:
    """The dashboard's figures for a scope (None: the whole company; else these departments, each
    with its sub-departments already included): the month of `as_of` to that day against
    `previous` (default: the same days of last month), the fiscal year to date, the daily spend
    over `chart` (default: the last 60 days), budgets and commitments (company-level: only for
    the whole company). The monthly report asks for a month's last day against the whole month
    before, its chart over the month."""
    settings = organization_settings()
    month = month_to_date(as_of)
    previous = previous or same_days_last_month(as_of)
    fiscal_year, year = fiscal_year_to_date(as_of, settings.fiscal_year_start_month)
    chart = chart or Window(as_of - timedelta(days=CHART_DAYS - 1), as_of)

    # this month and the same days of last month: per department × vendor (is_current) the sums,
    # per model the cost only (the movers)
    sums: dict[tuple[int, int, bool], list] = {}
    names: dict[tuple[int, int], tuple[str, str, str, str]] = {}
    movers: dict[tuple[str, str, str, str, str], list[Decimal]] = {}
    for department_id, code, dept_name, vendor_id, slug, vendor_name, model, is_current, *row in _month_rows(
        month, previous, department_ids
    ):
        _accumulate(sums, (department_id, vendor_id, is_current), row)
        names[(department_id, vendor_id)] = (code, dept_name, slug, vendor_name)
        movers.setdefault((code, dept_name, slug, vendor_name, model), [ZERO, ZERO])[0 if is_current else 1] += (
            row[0] or ZERO
        )
    vendors: dict[tuple[str, str], list[Spend]] = {}
    departments: dict[tuple[str, str], list[Spend]] = {}
    so_far: dict[tuple[int, int], Spend] = {}  # this month to date per (department id, vendor id)
    for (department_id, vendor_id, is_current), row in sums.items():
        code, dept_name, slug, vendor_name = names[(department_id, vendor_id)]
        spend = _spend(*row)
        index = 0 if is_current else 1
        vendors.setdefault((slug, vendor_name), [Spend(), Spend()])[index].add(spend)
        departments.setdefault((code, dept_name), [Spend(), Spend()])[index].add(spend)
        if is_current:
            so_far[(department_id, vendor_id)] = spend
    mtd = total(pair[0] for pair in vendors.values())
    previous_mtd = total(pair[1] for pair in vendors.values())

    # the fiscal year to date: its earlier months (monthly rollups) and this month to date
    year_months = _year_months(year, month, department_ids)
    earlier = Spend()
    if year_months:
        columns = zip(*(row[3:] for row in year_months), strict=True)  # cost, list cost, …, unpriced
        earlier = _spend(*(sum(value for value in column if value is not None) for column in columns))
    ytd = total([earlier, *so_far.values()])
    month_costs = [(d, v, first, cost or ZERO) for d, v, first, cost, *_ in year_months]
    month_costs += [(d, v, month.start, spend.cost) for (d, v), spend in so_far.items()]

    changes = [
        Mover(code, dept_name, slug, vendor_name, model, Change(current, prior))
        for (code, dept_name, slug, vendor_name, model), (current, prior) in movers.items()
        if current != prior
    ]
    changes.sort(key=lambda m: (-abs(m.change.delta), m.department_code, m.vendor_slug, m.model))

    return Dashboard(
        as_of=as_of,
        currency=settings.reporting_currency,
        scoped=department_ids is not None,
        fiscal_year=fiscal_year,
        month=month,
        previous_month=previous,
        year=year,
        mtd=mtd,
        previous_mtd=previous_mtd,
        ytd=ytd,
        vendors=_breakdown(vendors, mtd.cost),
        departments=_breakdown(departments, mtd.cost),
        movers=changes[:TOP_MOVERS],
        daily=_daily(chart, _daily_rows(chart, department_ids)),
        budgets=_budgets(fiscal_year, department_ids, month_costs, settings.fiscal_year_start_month, as_of)
        if with_budgets
        else None,
        commitments=_commitment_lines(as_of) if with_commitments and department_ids is None else None,
        manages_no_department=department_ids is not None and not department_ids,
        month_costs=month_costs,
    )


# Budgets and commitments --------------------------------------------------------------------------


def _budgets(
    fiscal_year: int,
    department_ids: frozenset[int] | None,
    month_costs: list[tuple[int, int, date, Decimal]],
    start_month: int,
    as_of: date,
) -> list[BudgetBurn]:
    """Every budget of the fiscal year in scope (a manager: of their departments), the most used
    first. A manager's budgets cover only departments they see, so the scoped year rows hold
    every cost they count."""
    budgets = Budget.objects.filter(fiscal_year=fiscal_year).select_related("department", "vendor")
    if department_ids is not None:
        budgets = budgets.filter(department_id__in=department_ids)
    return budget_burn(list(budgets), month_costs=month_costs, start_month=start_month, as_of=as_of)


def _accumulate(sums: dict, key, row) -> None:
    """Add a row of sums (cost, list cost, off-contract cost, tokens, unpriced) to sums[key]."""
    held = sums.get(key)
    if held is None:
        sums[key] = [value or 0 for value in row]
    else:
        for i, value in enumerate(row):
            if value:
                held[i] += value


def _commitment_lines(as_of: date) -> list[CommitmentLine]:
    """Each commitment of the agreements active on `as_of`, by vendor."""
    agreements = (
        Agreement.objects.filter(
            status=Agreement.Status.ACTIVE, start__lte=as_of, end__gte=as_of, commitments__isnull=False
        )
        .distinct()
        .select_related("vendor")
        .prefetch_related("commitments")
        .order_by("vendor__name", "reference")
    )
    agreements = list(agreements)
    statuses = commitment_statuses_many([(agreement, as_of) for agreement in agreements])
    return [
        CommitmentLine(agreement, status)
        for agreement, of_agreement in zip(agreements, statuses, strict=True)
        for status in of_agreement
    ]
