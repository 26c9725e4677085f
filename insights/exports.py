"""The dashboard's figures as files: XLSX with one sheet per panel (for people), CSV as one long
table with one figure per row (for scripts and pivot tables). Both carry exact figures: money as
decimal text at the stored 12 places (a spreadsheet's floating point would round them), token
counts as integers. Both hold exactly what the user's dashboard holds — a department manager's
file only their departments."""

from __future__ import annotations

from decimal import Decimal

import tablib

from .selectors import BreakdownRow, Dashboard, Spend, Window

CSV_HEADERS = [
    "section",
    "department",
    "vendor",
    "model",
    "item",
    "period_start",
    "period_end",
    "measure",
    "value",
    "unit",
]
CHANGE = "cost_change_vs_same_days_last_month"
BREAKDOWN_HEADERS = [
    "cost_mtd",
    "cost_same_days_last_month",
    "change",
    "change_percent",
    "share_percent",
    "list_cost_mtd",
    "savings_vs_list_mtd",
    "off_contract_cost_mtd",
    "tokens_mtd",
    "unpriced_records_mtd",
    "currency",
]
MOVER_HEADERS = ["department", "vendor", "model", "cost_mtd", "cost_same_days_last_month", "change", "change_percent"]
BUDGET_MEASURES = [
    "annual",
    "budget_to_date",
    "actual",
    "percent_used",
    "projected_year_end",
    "projected_overrun_date",
]
COMMITMENT_MEASURES = [
    "committed",
    "consumed",
    "expected_to_date",
    "utilisation",
    "projected_end",
    "projected_shortfall",
    "shortfall_charge",
]


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.12f}"


def exact(value) -> str:
    """A percentage, a date or a token figure as exact text; None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _spend_measures(spend: Spend) -> list[tuple[str, object, str]]:
    """(measure, value, unit); the unit "currency" stands for the reporting currency."""
    return [
        ("cost", money(spend.cost), "currency"),
        ("list_cost", money(spend.list_cost), "currency"),
        ("savings_vs_list", money(spend.savings), "currency"),
        ("off_contract_cost", money(spend.off_contract_cost), "currency"),
        ("tokens", spend.tokens, "tokens"),
        ("unpriced_records", spend.unpriced_records, "records"),
    ]


def budget_values(burn) -> list[str]:
    """In the order of BUDGET_MEASURES."""
    return [
        money(burn.annual),
        money(burn.budget_to_date),
        money(burn.actual),
        exact(burn.percent_used),
        money(burn.projected_year_end),
        exact(burn.projected_overrun_date),
    ]


def budget_units(burn) -> list[str]:
    return [burn.currency, burn.currency, burn.currency, "percent", burn.currency, "date"]


def commitment_values(status) -> list[str]:
    """In the order of COMMITMENT_MEASURES: token figures are whole tokens, money at 12 places."""
    figure = exact if status.unit == "tokens" else money
    return [
        figure(status.committed),
        figure(status.consumed),
        figure(status.expected_to_date),
        exact(status.utilisation),
        figure(status.projected_end),
        figure(status.projected_shortfall),
        money(status.shortfall_charge),
    ]


def commitment_units(status) -> list[str]:
    unit = status.unit if status.unit == "tokens" else status.currency
    return [unit, unit, unit, "percent", unit, unit, status.currency]


# CSV: one figure per row ------------------------------------------------------------------------


def csv_dataset(board: Dashboard) -> tablib.Dataset:
    dataset = tablib.Dataset(headers=CSV_HEADERS, title="Dashboard")

    def add(section, window: Window, measure, value, unit, department="", vendor="", model="", item=""):
        unit = board.currency if unit == "currency" else unit
        row = [section, department, vendor, model, item, window.start.isoformat(), window.end.isoformat()]
        dataset.append([*row, measure, value, unit])

    periods = ((board.month, board.mtd), (board.previous_month, board.previous_mtd), (board.year, board.ytd))
    for window, spend in periods:
        for measure, value, unit in _spend_measures(spend):
            add("summary", window, measure, value, unit)
    add("summary", board.month, CHANGE, money(board.mtd_change.delta), "currency")
    add("summary", board.month, "cost_change_percent", exact(board.mtd_change.percent), "percent")

    for section, rows in (("vendor", board.vendors), ("department", board.departments)):
        for row in rows:
            who = {section: row.key}
            for measure, value, unit in _spend_measures(row.current):
                add(section, board.month, measure, value, unit, **who)
            add(section, board.previous_month, "cost", money(row.previous.cost), "currency", **who)
            add(section, board.month, CHANGE, money(row.change.delta), "currency", **who)
            add(section, board.month, "cost_change_percent", exact(row.change.percent), "percent", **who)
            add(section, board.month, "share_of_cost", exact(row.share), "percent", **who)

    for mover in board.movers:
        who = {"department": mover.department_code, "vendor": mover.vendor_slug, "model": mover.model}
        add("top_mover", board.month, "cost", money(mover.change.current), "currency", **who)
        add("top_mover", board.previous_month, "cost", money(mover.change.previous), "currency", **who)
        add("top_mover", board.month, CHANGE, money(mover.change.delta), "currency", **who)
        add("top_mover", board.month, "cost_change_percent", exact(mover.change.percent), "percent", **who)

    for slug, _, values in board.daily.vendors:
        for day, value in zip(board.daily.days, values, strict=True):
            if value:
                add("daily", Window(day, day), "cost", money(value), "currency", vendor=slug)

    for burn in board.budgets or []:
        budget = burn.budget
        who = {
            "department": budget.department.code,
            "vendor": budget.vendor.slug if budget.vendor_id else "",
            "item": f"budget {budget.pk} FY{budget.fiscal_year}",
        }
        for measure, value, unit in zip(BUDGET_MEASURES, budget_values(burn), budget_units(burn), strict=True):
            add("budget", board.year, measure, value, unit, **who)

    for line in board.commitments or []:
        agreement, status = line.agreement, line.status
        who = {"vendor": agreement.vendor.slug, "item": f"{agreement.reference} commitment {status.id}"}
        window = Window(status.period_start, status.period_end)
        values = zip(COMMITMENT_MEASURES, commitment_values(status), commitment_units(status), strict=True)
        for measure, value, unit in values:
            add("commitment", window, measure, value, unit, **who)
    return dataset


# XLSX: one sheet per panel -----------------------------------------------------------------------


def _breakdown_sheet(title: str, key: str, rows: list[BreakdownRow], currency: str) -> tablib.Dataset:
    sheet = tablib.Dataset(headers=[key, "name", *BREAKDOWN_HEADERS], title=title)
    for row in rows:
        current = row.current
        sheet.append(
            [
                row.key,
                row.name,
                money(current.cost),
                money(row.previous.cost),
                money(row.change.delta),
                exact(row.change.percent),
                exact(row.share),
                money(current.list_cost),
                money(current.savings),
                money(current.off_contract_cost),
                current.tokens,
                current.unpriced_records,
                currency,
            ]
        )
    return sheet


def xlsx_databook(board: Dashboard) -> tablib.Databook:
    currency = board.currency
    summary = tablib.Dataset(headers=["measure", "period_start", "period_end", "value", "unit"], title="Summary")
    for row in csv_dataset(board).dict:
        if row["section"] == "summary":
            summary.append([row["measure"], row["period_start"], row["period_end"], row["value"], row["unit"]])

    movers = tablib.Dataset(headers=[*MOVER_HEADERS, "currency"], title="Top movers")
    for m in board.movers:
        change = m.change
        movers.append(
            [
                m.department_code,
                m.vendor_slug,
                m.model,
                money(change.current),
                money(change.previous),
                money(change.delta),
                exact(change.percent),
                currency,
            ]
        )

    daily = tablib.Dataset(headers=["day", "vendor", "cost", "currency"], title="Daily by vendor")
    for index, day in enumerate(board.daily.days):
        for slug, _, values in board.daily.vendors:
            if values[index]:
                daily.append([day.isoformat(), slug, money(values[index]), currency])

    sheets = [
        summary,
        _breakdown_sheet("By vendor", "vendor", board.vendors, currency),
        _breakdown_sheet("By department", "department", board.departments, currency),
        movers,
        daily,
    ]
    if board.budgets is not None:
        budgets = tablib.Dataset(
            headers=["budget", "department", "vendor", "fiscal_year", *BUDGET_MEASURES, "currency"], title="Budgets"
        )
        for burn in board.budgets:
            b = burn.budget
            vendor = b.vendor.slug if b.vendor_id else ""
            budgets.append([b.pk, b.department.code, vendor, b.fiscal_year, *budget_values(burn), b.currency])
        sheets.append(budgets)
    if board.commitments is not None:
        headers = ["agreement", "vendor", "commitment", "treatment", "period_start", "period_end"]
        commitments = tablib.Dataset(headers=[*headers, *COMMITMENT_MEASURES, "unit", "currency"], title="Commitments")
        for line in board.commitments:
            s = line.status
            commitments.append(
                [
                    line.agreement.reference,
                    line.agreement.vendor.slug,
                    s.id,
                    s.treatment,
                    s.period_start.isoformat(),
                    s.period_end.isoformat(),
                    *commitment_values(s),
                    s.unit,
                    s.currency,
                ]
            )
        sheets.append(commitments)
    return tablib.Databook(sheets)
