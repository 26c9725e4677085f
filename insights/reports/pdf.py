"""The monthly report as a PDF pack: templates/insights/reports/pdf/report.html and report.css,
with the charts of insights.reports.charts inline as SVG, rendered by WeasyPrint in the invoices'
font (billing.pdf.render_pdf).

Everything printed is prepared here as text (money to the currency's minor unit, en locale), so
the template only lays it out; autoescaping stays on (department and vendor names are input).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_compact_decimal
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from billing.pdf import date_format, money_format, month_format, render_pdf

from ..selectors.dashboard import _percent
from ..selectors.reports import MonthlyReportData
from . import charts

TEMPLATE = "insights/reports/pdf/report.html"
STYLESHEET = Path(settings.BASE_DIR) / "templates" / "insights" / "reports" / "pdf" / "report.css"


def tokens_short(tokens: int) -> str:
    """Tokens in readable units: 950, 12.3K, 4.5M, 1.2B, 3.1T."""
    return format_compact_decimal(tokens, locale="en", fraction_digits=1)


def short_date(value: date | None) -> str:
    """A date in a table cell: 30 Dec 2026."""
    return format_date(value, "d MMM y", locale="en") if value else "–"


def percent_text(value: Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:.1f} %"
    return ("+" + text) if signed and value > 0 else text


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    note: str = ""
    bad: bool = False


def _kpis(data: MonthlyReportData) -> list[Kpi]:
    c = data.currency
    spend = data.spend
    change = data.change_percent
    kpis = [
        Kpi(
            "Spend",
            money_format(spend.cost, c),
            f"{percent_text(change, signed=True)} against {month_format(data.previous_period)} "
            f"({money_format(data.previous_spend.cost, c)})",
            bad=change is not None and change > 0,
        ),
    ]
    if data.month_budget is not None:
        over = spend.cost > data.month_budget
        kpis.append(
            Kpi(
                "Budget for the month",
                money_format(data.month_budget, c),
                f"{percent_text(data.budget_used_percent)} used; "
                + (
                    f"{money_format(spend.cost - data.month_budget, c)} over"
                    if over
                    else f"{money_format(data.month_budget - spend.cost, c)} left"
                ),
                bad=over,
            )
        )
    kpis.append(
        Kpi(
            "Savings against list price",
            money_format(spend.savings, c),
            f"{percent_text(data.savings_percent)} of {money_format(spend.list_cost, c)} at list price",
            bad=spend.savings < 0,
        )
    )
    kpis.append(
        Kpi(
            "Tokens",
            tokens_short(spend.tokens),
            f"{tokens_short(data.previous_spend.tokens)} in {month_format(data.previous_period)}",
        )
    )
    year_note = (
        f"of {money_format(data.year_budget, c)} budgeted for FY{data.fiscal_year}"
        if data.year_budget
        else f"FY{data.fiscal_year} to the month's end"
    )
    kpis.append(Kpi("Fiscal year to date", money_format(data.ytd.cost, c), year_note))
    panels = data.forecasts
    if panels and all(p.next_month_value is not None and (p.currency or c) == c for p in panels):
        # the scope's forecast: the company's, or the sum of the managed departments' (disjoint subtrees)
        kpis.append(
            Kpi(
                f"Forecast for {month_format(panels[0].next_month)}",
                money_format(sum((p.next_month_value for p in panels), Decimal(0)), c),
                f"80 %: {money_format(sum((p.next_month_low for p in panels), Decimal(0)), c)} – "
                f"{money_format(sum((p.next_month_high for p in panels), Decimal(0)), c)}",
            )
        )
    kpis.append(
        Kpi(
            "Open alerts",
            str(data.open_alerts),
            f"{data.critical_alerts} critical" if data.critical_alerts else "none critical",
            bad=data.critical_alerts > 0,
        )
    )
    return kpis


def _breakdown(rows, currency: str) -> list[dict]:
    return [
        {
            "name": row.name,
            "key": row.key,
            "current": money_format(row.current.cost, currency),
            "previous": money_format(row.previous.cost, currency),
            "change": percent_text(row.change.percent, signed=True),
            "share": percent_text(row.share),
            "tokens": tokens_short(row.current.tokens),
            "list_cost": money_format(row.current.list_cost, currency),
            "savings": money_format(row.current.savings, currency),
            "savings_percent": percent_text(_percent(row.current.savings, row.current.list_cost)),
        }
        for row in rows
    ]


def report_context(data: MonthlyReportData, *, title: str) -> dict:
    c = data.currency
    vendors = _breakdown(data.vendors, c)
    departments = _breakdown(data.departments, c)
    budget_rows = [
        {
            "department": line.burn.budget.department.name,
            "code": line.burn.budget.department.code,
            "vendor": line.burn.budget.vendor.name if line.burn.budget.vendor_id else "All vendors",
            "month_budget": money_format(line.month_budget, line.burn.currency),
            "month_actual": money_format(line.month_actual, line.burn.currency),
            "month_variance": money_format(line.month_variance, line.burn.currency),
            "over": line.month_variance < 0,
            "annual": money_format(line.burn.annual, line.burn.currency),
            "actual": money_format(line.burn.actual, line.burn.currency),
            "used": percent_text(line.burn.percent_used),
            "projected": money_format(line.burn.projected_year_end, line.burn.currency),
            "overrun": short_date(line.burn.projected_overrun_date),
            "exceeded": line.burn.exceeded,
        }
        for line in data.budgets
    ]
    commitments = [
        {
            "agreement": line.agreement.reference,
            "vendor": line.agreement.vendor.name,
            "treatment": line.status.treatment.replace("_", "-"),
            "period": f"{date_format(line.status.period_start)} – {date_format(line.status.period_end)}",
            "committed": _amount(line.status.committed, line.status),
            "consumed": _amount(line.status.consumed, line.status),
            "utilisation": percent_text(line.status.utilisation),
            "projected": _amount(line.status.projected_end, line.status),
            "shortfall": _amount(line.status.projected_shortfall, line.status),
            "charge": money_format(line.status.shortfall_charge, line.status.currency),
            "short": line.status.projected_shortfall > 0,
        }
        for line in data.commitments or []
    ]
    sla = [
        {
            "vendor": credit.agreement.vendor.name,
            "agreement": credit.agreement.reference,
            "metric": credit.metric.replace("_", " "),
            "target": _measure(credit.target),
            "measured": _measure(credit.measured),
            "breach": _measure(credit.breach) if credit.breach else "–",
            "credit_percent": percent_text(credit.credit_percent) if credit.credit_percent else "–",
            "credit": money_format(credit.credit, credit.currency),
            "status": credit.get_status_display(),
            "claim_by": short_date(credit.claim_by),
            "breached": bool(credit.breach),
        }
        for credit in data.sla or []
    ]
    reconciliations = [
        {
            "vendor": r.vendor.name,
            "expected": money_format(r.expected, r.currency),
            "invoiced": money_format(r.invoiced, r.currency) if r.invoiced is not None else "not invoiced",
            "variance": money_format(r.variance, r.currency) if r.variance is not None else "–",
            "variance_percent": percent_text(r.variance_percent),
            "status": r.get_status_display(),
            "attention": r.status in ("needs_review", "disputed"),
        }
        for r in data.reconciliations or []
    ]
    forecasts = [
        {
            "label": panel.label,
            "method": panel.method,
            "fitted_on": date_format(panel.fitted_on),
            "next_month": month_format(panel.next_month),
            "value": money_format(panel.next_month_value, panel.currency or c)
            if panel.next_month_value is not None
            else "",
            "low": money_format(panel.next_month_low, panel.currency or c) if panel.next_month_low is not None else "",
            "high": money_format(panel.next_month_high, panel.currency or c)
            if panel.next_month_high is not None
            else "",
            "chart": charts.forecast_chart(panel.actuals, panel.points, currency=panel.currency or c),
        }
        for panel in data.forecasts
    ]
    return {
        "title": title,
        "data": data,
        "period": month_format(data.period),
        "previous_period": month_format(data.previous_period),
        "scope": data.scope.label,
        "company": data.scope.is_company,
        "generated": timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
        "currency": c,
        "kpis": _kpis(data),
        "vendors": vendors,
        "departments": departments,
        "spend_total": money_format(data.spend.cost, c),
        "list_total": money_format(data.spend.list_cost, c),
        "savings_total": money_format(data.spend.savings, c),
        "off_contract": money_format(data.spend.off_contract_cost, c),
        "unpriced": data.spend.unpriced_records,
        "vendor_chart": charts.comparison_bars(
            [(r.name, r.current.cost, r.previous.cost) for r in data.vendors],
            currency=c,
            current=month_format(data.period),
            previous=month_format(data.previous_period),
        )
        if data.vendors
        else "",
        "department_chart": charts.comparison_bars(
            [(r.name, r.current.cost, r.previous.cost) for r in data.departments],
            currency=c,
            current=month_format(data.period),
            previous=month_format(data.previous_period),
        )
        if data.departments
        else "",
        "daily_chart": charts.daily_bars(data.daily, currency=c) if any(v for _, v in data.daily) else "",
        "budgets": budget_rows,
        "budget_chart": charts.budget_bars(
            [
                (
                    f"{line.burn.budget.department.name}"
                    + (f" · {line.burn.budget.vendor.name}" if line.burn.budget.vendor_id else ""),
                    line.month_budget,
                    line.month_actual,
                )
                for line in data.budgets
            ],
            currency=c,
        )
        if data.budgets
        else "",
        "commitments": commitments,
        "forecasts": forecasts,
        "sla": sla,
        "sla_totals": [
            {"currency": cur, "owed": money_format(owed, cur), "received": money_format(received, cur)}
            for cur, owed, received in data.sla_credit_totals
        ],
        "reconciliations": reconciliations,
        "unreconciled": data.unreconciled_vendors,
        "alerts": [
            {
                "severity": alert.get_severity_display(),
                "critical": alert.severity == "critical",
                "title": alert.title,
                "where": alert.department.name
                if alert.department_id
                else (alert.vendor.name if alert.vendor_id else ""),
                "raised": short_date(alert.raised_at.date()),
                "status": alert.get_status_display(),
            }
            for alert in data.alerts
        ],
        "invoices": [
            {
                "number": invoice.number or "draft",
                "department": invoice.department.name,
                "code": invoice.department.code,
                "kind": invoice.get_kind_display(),
                "status": invoice.get_status_display(),
                "total": money_format(invoice.total, invoice.currency),
                "due": short_date(invoice.due_date),
            }
            for invoice in data.invoices
        ],
    }


def _amount(value: Decimal, status) -> str:
    if status.is_tokens:
        return tokens_short(int(value)) + " tokens"
    return money_format(value, status.currency)


def _measure(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return f"{value.normalize():f}"


def report_html(data: MonthlyReportData, *, title: str) -> str:
    return render_to_string(TEMPLATE, report_context(data, title=title))


def report_pdf_render(data: MonthlyReportData, *, title: str) -> bytes:
    return render_pdf(report_html(data, title=title), stylesheet=STYLESHEET)


def period_title(period: date, scope_label: str) -> str:
    return f"Monthly report {month_format(period)} — {scope_label}"
