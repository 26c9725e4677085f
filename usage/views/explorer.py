"""The usage explorer: the summary of the daily rollups for the filters and groups chosen, as a
chart, a table and CSV/XLSX exports of the same rows. Department managers see their departments
only: every figure comes through selectors.usage_summary, which scopes them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import tablib
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from core.currencies import minor_units
from core.exports import neutralise_dataset
from core.policy import can, is_department_scoped
from core.scoping import visible_department_ids
from core.views.mixins import PolicyRequiredMixin
from procurement.models import Department

from .. import selectors
from ..forms import GROUP_CHOICES, ExplorerForm, month_bounds

TOKEN_CLASSES = [
    ("input_tokens", "Input"),
    ("cached_input_tokens", "Cached input"),
    ("cache_write_tokens", "Cache write"),
    ("output_tokens", "Output"),
]
GROUP_LABELS = dict(GROUP_CHOICES)
TOKEN_UNITS = [(10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")]
CHART_SERIES = 10  # more series than this are summed into "Other"
CHART_BARS = 30
CHART_DAYS = 400  # longer ranges chart only the days that have usage
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def readable_tokens(count: int) -> str:
    """1234567 → "1.23 M", 950 → "950": three significant figures are enough to read a table;
    the exact count goes in the cell's title."""
    for size, unit in TOKEN_UNITS:
        if abs(count) >= size:
            scaled = (Decimal(count) / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            text = format(scaled, "f").rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return str(count)


def readable_cost(cost: Decimal, currency: str) -> str:
    """A cost at its currency's minor unit with thousands separators: 1234.5678 → "1,234.57"."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    return f"{cost.quantize(quantum, rounding=ROUND_HALF_UP):,f}"


def total_tokens(row: dict) -> int:
    return sum(row[name] for name, _ in TOKEN_CLASSES)


def _months(start: date, end: date) -> list[str]:
    months, current = [], start.replace(day=1)
    while current < end:
        months.append(current.strftime("%Y-%m"))
        current = date(current.year + (current.month == 12), current.month % 12 + 1, 1)
    return months


def chart_data(rows: list[dict], *, group_by: tuple[str, ...], metric: str, start: date, end: date, currency: str):
    """What static/js/usage_explorer.js draws: stacked bars over time when grouped by day (or
    month), else horizontal bars of the groups, largest first. Values are plain numbers in
    text (a chart needs no more precision than a pixel; the table has the exact figures)."""

    def value(row) -> Decimal:
        return Decimal(total_tokens(row)) if metric == "tokens" else Decimal(row["cost"])

    def text(amount: Decimal) -> str:
        return str(int(amount)) if metric == "tokens" else format(amount.quantize(Decimal("0.000001")), "f")

    time_key = "day" if "day" in group_by else "month" if "month" in group_by else None
    series_keys = [g for g in group_by if g not in ("day", "month")]

    def series_of(row) -> str:
        return " · ".join(str(row[g]) for g in series_keys) or "Total"

    base = {
        "metric": metric,
        "currency": currency,
        "axis": "Tokens" if metric == "tokens" else f"Cost ({currency})",
    }
    if time_key:
        if time_key == "day" and (end - start).days <= CHART_DAYS:
            labels = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]
        elif time_key == "month":
            labels = _months(start, end)
        else:
            labels = sorted({row[time_key] for row in rows})
        position = {label: i for i, label in enumerate(labels)}
        series: dict[str, list[Decimal]] = {}
        for row in rows:
            values = series.setdefault(series_of(row), [Decimal(0)] * len(labels))
            values[position[row[time_key]]] += value(row)
        ranked = sorted(series, key=lambda name: (-sum(series[name]), name))
        kept = ranked[:CHART_SERIES]
        datasets = [{"label": name, "data": [text(v) for v in series[name]]} for name in kept]
        rest = ranked[CHART_SERIES:]
        if rest:
            other = [sum((series[name][i] for name in rest), Decimal(0)) for i in range(len(labels))]
            datasets.append({"label": f"Other ({len(rest)})", "data": [text(v) for v in other]})
        return {**base, "kind": "time", "labels": labels, "datasets": datasets}
    bars: dict[str, Decimal] = {}
    for row in rows:
        bars[series_of(row)] = bars.get(series_of(row), Decimal(0)) + value(row)
    ranked = sorted(bars, key=lambda name: (-bars[name], name))
    labels = ranked[:CHART_BARS]
    data = [bars[name] for name in labels]
    if len(ranked) > CHART_BARS:
        labels.append(f"Other ({len(ranked) - CHART_BARS})")
        data.append(sum((bars[name] for name in ranked[CHART_BARS:]), Decimal(0)))
    label = "Tokens" if metric == "tokens" else f"Cost ({currency})"
    return {**base, "kind": "bars", "labels": labels, "datasets": [{"label": label, "data": [text(v) for v in data]}]}


def chart_title(group_by: tuple[str, ...], metric: str) -> str:
    """ "Tokens by day, stacked by vendor and model", "Cost by department", "Tokens in all"."""
    what = "Tokens" if metric == "tokens" else "Cost"
    time_key = "day" if "day" in group_by else "month" if "month" in group_by else None
    others = [GROUP_LABELS[g].lower() for g in group_by if g not in ("day", "month")]
    if time_key:
        title = f"{what} by {time_key}"
        return f"{title}, stacked by {' and '.join(others)}" if others else title
    return f"{what} by {' and '.join(others)}" if others else f"{what} in all"


def display_row(row: dict, group_by: tuple[str, ...], currency: str) -> dict:
    cost = Decimal(row["cost"])
    tokens = [(readable_tokens(row[name]), f"{row[name]:,} {label.lower()} tokens") for name, label in TOKEN_CLASSES]
    total = total_tokens(row)
    return {
        "groups": [row[g] for g in group_by],
        "tokens": tokens,
        "total": (readable_tokens(total), f"{total:,} tokens"),
        "requests": (readable_tokens(row["requests"]), f"{row['requests']:,} requests"),
        "cost": (readable_cost(cost, currency), f"{currency} {row['cost']}"),
        "unpriced": row.get("unpriced_records", 0),
    }


def totals_of(rows: list[dict]) -> dict:
    totals = {name: sum(row[name] for row in rows) for name, _ in TOKEN_CLASSES}
    totals["requests"] = sum(row["requests"] for row in rows)
    cost = sum((Decimal(row["cost"]) for row in rows), Decimal(0))
    totals["cost"] = f"{cost:.12f}"
    totals["unpriced_records"] = sum(row.get("unpriced_records", 0) for row in rows)
    return totals


def export_dataset(rows: list[dict], group_by: tuple[str, ...], currency: str) -> tablib.Dataset:
    """The rows of the table, with exact figures: token counts as integers, costs as decimal
    text at the stored 12 places (a spreadsheet's floating point would round them)."""
    headers = [*group_by, *(name for name, _ in TOKEN_CLASSES), "total_tokens", "requests", "cost", "currency"]
    headers.append("unpriced_records")
    dataset = tablib.Dataset(headers=headers, title="Usage")
    for row in rows:
        dataset.append(
            [
                *(row[g] for g in group_by),
                *(row[name] for name, _ in TOKEN_CLASSES),
                total_tokens(row),
                row["requests"],
                row["cost"],
                currency,
                row.get("unpriced_records", 0),
            ]
        )
    return dataset


class UsageExplorerView(PolicyRequiredMixin, TemplateView):
    """/usage/: filters in the query string (bookmarkable); `_export=csv|xlsx` downloads the rows."""

    policy_resource = "usage"
    template_name = "usage/explorer.html"
    rows_per_page = 100

    def get_form(self) -> ExplorerForm:
        user = self.request.user
        departments = Department.objects.order_by("code")
        if is_department_scoped(user, "usage"):
            departments = departments.filter(id__in=visible_department_ids(user))
        today = timezone.now().date()
        params = self.request.GET
        if not any(name in params for name in ExplorerForm.base_fields):
            return ExplorerForm(None, departments=departments, today=today)  # the defaults
        # A link may name only some filters (?group_by=department): the dates default to this month.
        data = params.copy()
        for name, default in zip(("start", "end"), month_bounds(today), strict=True):
            data.setdefault(name, default.isoformat())
        return ExplorerForm(data, departments=departments, today=today)

    def get(self, request, *args, **kwargs):
        form = self.get_form()
        context = self.get_context_data(form=form, **kwargs)
        if form.is_bound and not form.is_valid():
            return self.render_to_response(context)
        values = form.query_values()
        query = selectors.SummaryQuery(
            start=values["start"],
            end=values["end"],
            group_by=values["group_by"],
            vendors=values["vendors"],
            departments=values["departments"],
            models=values["models"],
        )
        summary = selectors.usage_summary(query, user=request.user)
        rows, currency = summary["rows"], summary["currency"]
        export = request.GET.get("_export")
        if export in EXPORT_TYPES:
            return self.export(export, rows, values, currency)
        page = Paginator(rows, self.rows_per_page).get_page(request.GET.get("page"))
        group_by = values["group_by"]
        display_rows = [display_row(row, group_by, currency) for row in page.object_list]
        group_headers = [GROUP_LABELS[g] for g in group_by]
        if not group_by:  # one total row: say so in a first column
            group_headers = ["Usage"]
            for row in display_rows:
                row["groups"] = ["All, not grouped"]
        context.update(
            values=values,
            currency=currency,
            rows=rows,
            page=page,
            display_rows=display_rows,
            totals=display_row(totals_of(rows), (), currency),
            group_headers=group_headers,
            chart_title=chart_title(group_by, values["metric"]),
            token_headers=[label for _, label in TOKEN_CLASSES],
            chart=chart_data(
                rows,
                group_by=values["group_by"],
                metric=values["metric"],
                start=values["start"],
                end=values["end"],
                currency=currency,
            )
            if rows
            else None,
        )
        return self.render_to_response(context)

    def export(self, export_format: str, rows: list[dict], values: dict, currency: str) -> HttpResponse:
        dataset = export_dataset(rows, values["group_by"], currency)
        content = neutralise_dataset(dataset).export(export_format)  # CSV injection: core.exports
        response = HttpResponse(content, content_type=EXPORT_TYPES[export_format])
        name = f"usage_{values['start']:%Y-%m-%d}_{values['end']:%Y-%m-%d}.{export_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = "Usage"
        context["can_ingest"] = can(self.request.user, "usage", "ingest")
        context["known_models"] = selectors.usage_model_names()
        return context
