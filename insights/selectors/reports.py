"""The monthly report's figures (DESIGN.md, Monthly report): one month, for the whole company or
for a set of departments (a manager's, each with its sub-departments).

Spend, savings and budgets come from the dashboard's selector (insights.selectors.dashboard),
asked for the month's last day against the whole month before, so the pack and the dashboard
can never disagree. Commitments, SLA results and reconciliation are company-level (agreements and
vendors are not a department's) and are only in the company's pack; a department pack holds its
departments' spend, budgets, forecasts, alerts and chargeback invoices, and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count

from billing.models import Invoice, Reconciliation, SlaCredit
from billing.months import month_last_day, next_month
from core.policy import is_department_scoped
from core.scoping import visible_department_ids
from procurement.models import Department
from procurement.selectors import budget_phasing

from ..models import Alert, Forecast, MonthlyReport
from .budgets import BudgetBurn, budget_month_actuals, top_level_budgets
from .dashboard import BreakdownRow, CommitmentLine, Spend, Window, _percent, spend_figures

ZERO = Decimal(0)
OPEN_ALERTS_SHOWN = 25
FORECAST_DAYS_SHOWN = 31  # the month after the report's


@dataclass(frozen=True)
class BudgetLine:
    burn: BudgetBurn
    month_budget: Decimal
    month_actual: Decimal

    @property
    def month_variance(self) -> Decimal:
        """Negative when the month spent more than its phased budget."""
        return self.month_budget - self.month_actual


@dataclass(frozen=True)
class ForecastPanel:
    """A cost forecast of one subject: the actuals it was fitted on (the report's month and the one
    before) and its points with the 80 % and 95 % bands (up to the end of the month after)."""

    label: str
    method: str
    currency: str
    fitted_on: date | None  # the last day of data
    actuals: list[tuple[date, Decimal]]
    points: list[dict]
    next_month: date
    next_month_value: Decimal | None  # the forecast's sum over the month after the report's
    next_month_low: Decimal | None  # the sum of the daily 80 % bounds (wider than the sum's own band)
    next_month_high: Decimal | None


@dataclass(frozen=True)
class Scope:
    """Whose report: the whole company (`department_ids` None) or these departments (with every
    sub-department already included); `roots` are those of them whose parent is not included."""

    department_ids: frozenset[int] | None
    roots: tuple[Department, ...] = ()

    @property
    def is_company(self) -> bool:
        return self.department_ids is None

    @property
    def key(self) -> str:
        if self.department_ids is None:
            return "company"
        return "departments:" + ",".join(str(d.pk) for d in sorted(self.roots, key=lambda d: d.pk))

    @property
    def label(self) -> str:
        if self.department_ids is None:
            return "Whole company"
        return ", ".join(f"{d.name} ({d.code})" for d in self.roots)


def company_scope() -> Scope:
    return Scope(None)


def departments_scope(department_ids: frozenset[int]) -> Scope:
    departments = list(Department.objects.filter(pk__in=department_ids).order_by("code"))
    roots = tuple(d for d in departments if d.parent_id not in department_ids)
    return Scope(frozenset(department_ids), roots)


@dataclass
class MonthlyReportData:
    period: date
    scope: Scope
    currency: str
    spend: Spend
    previous_spend: Spend
    vendors: list[BreakdownRow]
    departments: list[BreakdownRow]
    daily: list[tuple[date, Decimal]]
    fiscal_year: int
    ytd: Spend
    budgets: list[BudgetLine]
    month_budget: Decimal | None  # the top-level budgets' phased amounts for the month
    year_budget: Decimal | None
    forecasts: list[ForecastPanel]
    alerts: list[Alert]
    open_alerts: int
    critical_alerts: int
    invoices: list[Invoice]
    # company-level: None in a department pack
    commitments: list[CommitmentLine] | None = None
    sla: list[SlaCredit] | None = None
    reconciliations: list[Reconciliation] | None = None
    unreconciled_vendors: list[str] = field(default_factory=list)

    @property
    def previous_period(self) -> date:
        return (self.period - timedelta(days=1)).replace(day=1)

    @property
    def change_percent(self) -> Decimal | None:
        return _percent(self.spend.cost - self.previous_spend.cost, self.previous_spend.cost)

    @property
    def savings_percent(self) -> Decimal | None:
        return _percent(self.spend.savings, self.spend.list_cost)

    @property
    def budget_used_percent(self) -> Decimal | None:
        return _percent(self.spend.cost, self.month_budget or ZERO)

    @property
    def sla_credit_totals(self) -> list[tuple[str, Decimal, Decimal]]:
        """(currency, owed or claimed, received) of the month's SLA credits."""
        totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for credit in self.sla or []:
            if credit.status in (SlaCredit.Status.OWED, SlaCredit.Status.CLAIMED):
                totals[credit.currency][0] += credit.credit
            elif credit.status == SlaCredit.Status.RECEIVED:
                totals[credit.currency][1] += credit.credit
        return [(currency, owed, received) for currency, (owed, received) in sorted(totals.items())]


def _budget_lines(burns: list[BudgetBurn], month_costs, period: date) -> list[BudgetLine]:
    budgets = [burn.budget for burn in burns]
    actuals = budget_month_actuals(budgets, month_costs=month_costs, month=period)
    lines = []
    for burn in burns:
        phased = dict(budget_phasing(burn.budget))
        lines.append(BudgetLine(burn, phased.get(period, ZERO), actuals.get(burn.budget.pk, ZERO)))
    return lines


def _forecast_panel(forecast: Forecast, *, label: str, period: date) -> ForecastPanel:
    shown_from = (period - timedelta(days=1)).replace(day=1)
    following = next_month(period)
    through = month_last_day(following)
    actuals = [
        (date.fromisoformat(a["date"]), Decimal(str(a["value"])))
        for a in forecast.actuals or []
        if shown_from <= date.fromisoformat(a["date"]) <= through
    ]
    points = [p for p in forecast.points or [] if date.fromisoformat(p["date"]) <= through][: FORECAST_DAYS_SHOWN * 3]
    value = low = high = None
    in_following = [p for p in points if following <= date.fromisoformat(p["date"]) <= through]
    if in_following:
        # days of the following month already past when the forecast was fitted count as actuals
        past = sum((v for d, v in actuals if following <= d <= through), ZERO)
        value = past + sum(Decimal(str(p["value"] or 0)) for p in in_following)
        low = past + sum(Decimal(str(p["low80"] or 0)) for p in in_following)
        high = past + sum(Decimal(str(p["high80"] or 0)) for p in in_following)
    return ForecastPanel(
        label=label,
        method=forecast.method,
        currency=forecast.currency,
        fitted_on=forecast.history_end,
        actuals=actuals,
        points=points,
        next_month=following,
        next_month_value=value,
        next_month_low=low,
        next_month_high=high,
    )


def _forecasts(scope: Scope, period: date) -> list[ForecastPanel]:
    if scope.is_company:
        subjects = [("company", "Whole company")]
    else:
        subjects = [(f"department:{d.code}", f"{d.name} ({d.code})") for d in scope.roots]
    found = {
        f.subject: f
        for f in Forecast.objects.filter(
            subject__in=[s for s, _ in subjects], metric=Forecast.Metric.COST, scenario=None, is_latest=True
        )
    }
    return [_forecast_panel(found[s], label=label, period=period) for s, label in subjects if s in found]


def _alerts(scope: Scope) -> tuple[list[Alert], int, int]:
    alerts = Alert.objects.exclude(status=Alert.Status.RESOLVED).select_related("department", "vendor")
    if not scope.is_company:
        alerts = alerts.filter(department_id__in=scope.department_ids)
    severity_order = {Alert.Severity.CRITICAL: 0, Alert.Severity.WARNING: 1, Alert.Severity.INFO: 2}
    rows = sorted(alerts, key=lambda a: (severity_order.get(a.severity, 3), -a.raised_at.timestamp(), a.pk))
    critical = sum(1 for a in rows if a.severity == Alert.Severity.CRITICAL)
    return rows[:OPEN_ALERTS_SHOWN], len(rows), critical


def _invoices(scope: Scope, period: date) -> list[Invoice]:
    invoices = Invoice.objects.filter(period=period).select_related("department").order_by("department__code", "id")
    if not scope.is_company:
        invoices = invoices.filter(department_id__in=scope.department_ids)
    return list(invoices)


def monthly_report_data(*, period: date, scope: Scope) -> MonthlyReportData:
    """The figures of `period`'s pack (its first day) for `scope`."""
    last = month_last_day(period)
    previous_first = (period - timedelta(days=1)).replace(day=1)
    board = spend_figures(
        department_ids=scope.department_ids,
        as_of=last,
        previous=Window(previous_first, period - timedelta(days=1)),
        chart=Window(period, last),
        with_budgets=True,
        with_commitments=scope.is_company,
    )
    daily_totals = [
        (day, sum((values[i] for _, _, values in board.daily.vendors), ZERO)) for i, day in enumerate(board.daily.days)
    ]
    budget_lines = _budget_lines(board.budgets or [], board.month_costs, period)
    tops = {b.pk for b in top_level_budgets([line.burn.budget for line in budget_lines])}
    month_budget = sum((line.month_budget for line in budget_lines if line.burn.budget.pk in tops), ZERO)
    year_budget = sum((line.burn.annual for line in budget_lines if line.burn.budget.pk in tops), ZERO)
    alerts, open_count, critical = _alerts(scope)
    data = MonthlyReportData(
        period=period,
        scope=scope,
        currency=board.currency,
        spend=board.mtd,
        previous_spend=board.previous_mtd,
        vendors=board.vendors,
        departments=board.departments,
        daily=daily_totals,
        fiscal_year=board.fiscal_year,
        ytd=board.ytd,
        budgets=budget_lines,
        month_budget=month_budget if tops else None,
        year_budget=year_budget if tops else None,
        forecasts=_forecasts(scope, period),
        alerts=alerts,
        open_alerts=open_count,
        critical_alerts=critical,
        invoices=_invoices(scope, period),
    )
    if scope.is_company:
        data.commitments = board.commitments or []
        data.sla = list(
            SlaCredit.objects.filter(period=period)
            .select_related("agreement__vendor")
            .order_by("agreement__vendor__name", "agreement__reference", "metric", "id")
        )
        data.reconciliations = list(
            Reconciliation.objects.filter(period=period).select_related("vendor").order_by("vendor__name")
        )
        reconciled = {r.vendor.slug for r in data.reconciliations}
        data.unreconciled_vendors = sorted(row.name for row in board.vendors if row.key not in reconciled)
    return data


def manager_scopes(managers) -> dict[str, tuple[Scope, list]]:
    """Each distinct set of departments some managers manage → (its scope, those managers). A
    manager with no department gets no pack."""
    scopes: dict[str, tuple[Scope, list]] = {}
    for manager in managers:
        ids = visible_department_ids(manager)
        if not ids:
            continue
        scope = departments_scope(ids)
        scopes.setdefault(scope.key, (scope, []))[1].append(manager)
    return scopes


def report_list(user):
    """The archived packs `user` may read, newest first: everything for the company's readers; a
    department manager's only those whose departments all lie in their own subtrees (never the
    company's pack, never one that also covers a department they do not manage)."""
    reports = MonthlyReport.objects.defer("pdf").annotate(recipients=Count("deliveries"))
    if is_department_scoped(user, "report"):
        visible = visible_department_ids(user)
        reports = reports.filter(scope=MonthlyReport.Scope.DEPARTMENTS).exclude(
            departments__in=Department.objects.exclude(pk__in=visible)
        )
    return reports.order_by("-period", "-generated_at", "scope", "title")


def report_pdf(report: MonthlyReport) -> bytes:
    """A pack's stored PDF (the lists defer it)."""
    return bytes(MonthlyReport.objects.filter(pk=report.pk).values_list("pdf", flat=True).get())
