"""What static/js/dashboard.js draws: plain data for three charts, each label with the link to
its detail in the usage explorer. Values are decimal text (a chart needs no more precision than
a pixel; the tables and exports carry the exact figures)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from .selectors import BreakdownRow, Dashboard
from .templatetags.dashboard import explorer_path, usage_url

DAILY_SERIES = 8  # vendors beyond these are summed into "Other"
BARS = 15
SLICES = 8


def _text(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _ranked(rows: list[BreakdownRow], keep: int, link, label) -> tuple[list[str], list[str], list[str | None]]:
    rows = [row for row in rows if row.current.cost]
    labels = [label(row) for row in rows[:keep]]
    values = [_text(row.current.cost) for row in rows[:keep]]
    links: list[str | None] = [link(row) for row in rows[:keep]]
    if len(rows) > keep:
        labels.append(f"Other ({len(rows) - keep})")
        values.append(_text(sum((row.current.cost for row in rows[keep:]), Decimal(0))))
        links.append(None)
    return labels, values, links


def daily_chart(board: Dashboard) -> dict:
    """Spend per day of the last 60 days, stacked by vendor; a bar links to that day's usage."""
    daily = board.daily
    kept, rest = daily.vendors[:DAILY_SERIES], daily.vendors[DAILY_SERIES:]
    datasets = [{"label": name, "data": [_text(v) for v in values]} for _, name, values in kept]
    if rest:
        other = [sum((values[i] for _, _, values in rest), Decimal(0)) for i in range(len(daily.days))]
        datasets.append({"label": f"Other ({len(rest)})", "data": [_text(v) for v in other]})
    return {
        "currency": board.currency,
        "labels": [day.isoformat() for day in daily.days],
        "datasets": datasets,
        # a day's link: this, with start=<the day>&end=<the day after> (added by the script)
        "link": f"{explorer_path()}?{urlencode([('group_by', 'vendor'), ('group_by', 'model'), ('metric', 'cost')])}",
    }


def department_chart(board: Dashboard) -> dict:
    labels, values, links = _ranked(
        board.departments,
        BARS,
        lambda row: usage_url(board.month, "department,vendor", department=row.key),
        lambda row: row.key,  # the code, as in the table beside it
    )
    return {"currency": board.currency, "labels": labels, "values": values, "links": links}


def vendor_chart(board: Dashboard) -> dict:
    labels, values, links = _ranked(
        board.vendors,
        SLICES,
        lambda row: usage_url(board.month, "vendor,model", vendor=row.key),
        lambda row: row.name,
    )
    return {"currency": board.currency, "labels": labels, "values": values, "links": links}
