"""The monthly report's charts, drawn server-side with matplotlib as SVG images (data: URLs) for
WeasyPrint to lay into the PDF (DESIGN.md, PDF: charts inside PDFs are rendered server-side).

Text stays text (`svg.fonttype = none`): the PDF's font renders it (so a department's name in
Chinese prints as it does in the tables) and it can be searched and read back from the PDF.
Only matplotlib's object interface is used (no pyplot, no global figure state), so renders in
different threads do not meet. The SVGs carry no date or random ids, so the same figures give
the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import matplotlib
from babel.numbers import format_compact_currency
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "tokenledger",
        "font.family": ["DejaVu Sans"],
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#9aa0ac",
        "axes.labelcolor": "#1d273b",
        "xtick.color": "#495057",
        "ytick.color": "#495057",
        "axes.grid": True,
        "grid.color": "#e6e7e9",
        "grid.linewidth": 0.6,
        "axes.axisbelow": True,
    }
)

WIDTH_IN = 7.0  # the A4 page's text width, 180 mm
PRIMARY = "#206bc4"
SECONDARY = "#a8c4e5"
DANGER = "#d63939"
BAND80 = "#206bc4"
LOCALE = "en"
MAX_BARS = 10
LABEL_CHARS = 38


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _money_axis(currency: str) -> FuncFormatter:
    def fmt(value, _position):
        return format_compact_currency(value, currency, locale=LOCALE, fraction_digits=1)

    return FuncFormatter(fmt)


def _svg(figure: Figure) -> str:
    """The chart as a data: URL of its SVG, for an <img> in the report. As an image, WeasyPrint's SVG
    renderer reads it alone (inline in the HTML, the page's CSS parser would also read, and warn
    about, every SVG style attribute)."""
    out = io.BytesIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def ranked(rows: Sequence[tuple[str, Decimal]], keep: int = MAX_BARS) -> list[tuple[str, Decimal]]:
    """The largest `keep - 1` rows and the rest summed as "Other" when there are more."""
    rows = sorted(rows, key=lambda row: -row[1])
    if len(rows) <= keep:
        return list(rows)
    rest = sum((value for _, value in rows[keep - 1 :]), Decimal(0))
    return [*rows[: keep - 1], (f"Other ({len(rows) - keep + 1})", rest)]


def comparison_bars(rows: Sequence[tuple[str, Decimal, Decimal]], *, currency: str, current: str, previous: str) -> str:
    """Horizontal bars of each row's value this month beside last month's, the largest on top."""
    rows = list(rows)[:MAX_BARS]
    figure = Figure(figsize=(WIDTH_IN, 0.75 + 0.32 * max(len(rows), 1)), layout="constrained")
    axes = figure.subplots()
    labels = [_label(name) for name, _, _ in rows][::-1]
    positions = range(len(rows))
    axes.barh(
        [p + 0.2 for p in positions], [float(v) for _, _, v in rows][::-1], height=0.38, color=SECONDARY, label=previous
    )
    axes.barh(
        [p - 0.2 for p in positions], [float(v) for _, v, _ in rows][::-1], height=0.38, color=PRIMARY, label=current
    )
    axes.set_yticks(list(positions), labels)
    axes.xaxis.set_major_formatter(_money_axis(currency))
    axes.grid(axis="y", visible=False)
    figure.legend(loc="outside lower center", frameon=False, fontsize=7, ncols=2)
    return _svg(figure)


def budget_bars(rows: Sequence[tuple[str, Decimal, Decimal]], *, currency: str) -> str:
    """Each budget's month: the phased budget (grey) and the actual (blue, red when over)."""
    rows = list(rows)[:MAX_BARS]
    figure = Figure(figsize=(WIDTH_IN, 0.75 + 0.32 * max(len(rows), 1)), layout="constrained")
    axes = figure.subplots()
    labels = [_label(name) for name, _, _ in rows][::-1]
    budgets = [float(b) for _, b, _ in rows][::-1]
    actuals = [float(a) for _, _, a in rows][::-1]
    positions = list(range(len(rows)))
    axes.barh(positions, budgets, height=0.7, color="#e6e7e9", label="Budget for the month")
    axes.barh(
        positions,
        actuals,
        height=0.34,
        color=[DANGER if a > b else PRIMARY for a, b in zip(actuals, budgets, strict=True)],
        label="Actual",
    )
    axes.set_yticks(positions, labels)
    axes.xaxis.set_major_formatter(_money_axis(currency))
    axes.grid(axis="y", visible=False)
    figure.legend(loc="outside lower center", frameon=False, fontsize=7, ncols=2)
    return _svg(figure)


def daily_bars(days: Sequence[tuple[date, Decimal]], *, currency: str) -> str:
    """Spend per day of the month."""
    figure = Figure(figsize=(WIDTH_IN, 1.9))
    axes = figure.subplots()
    axes.bar([d for d, _ in days], [float(v) for _, v in days], width=0.8, color=PRIMARY)
    axes.yaxis.set_major_formatter(_money_axis(currency))
    axes.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    axes.grid(axis="x", visible=False)
    return _svg(figure)


def forecast_chart(actuals: Sequence[tuple[date, Decimal]], points: Sequence[dict], *, currency: str) -> str:
    """Daily actuals (solid) and the forecast (dashed) inside its 95 % and 80 % bands."""
    figure = Figure(figsize=(WIDTH_IN, 2.3), layout="constrained")
    axes = figure.subplots()
    if actuals:
        axes.plot(
            [d for d, _ in actuals], [float(v) for _, v in actuals], color="#1d273b", linewidth=1.1, label="Actual"
        )
    if points:
        days = [date.fromisoformat(p["date"]) for p in points]

        def series(key: str) -> list[float]:
            return [float(Decimal(str(p.get(key) if p.get(key) is not None else p["value"]))) for p in points]

        axes.fill_between(days, series("low95"), series("high95"), color=BAND80, alpha=0.12, linewidth=0, label="95 %")
        axes.fill_between(days, series("low80"), series("high80"), color=BAND80, alpha=0.25, linewidth=0, label="80 %")
        axes.plot(days, series("value"), color=BAND80, linewidth=1.1, linestyle="--", label="Forecast")
    axes.yaxis.set_major_formatter(_money_axis(currency))
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    axes.set_ylim(bottom=0)
    figure.legend(loc="outside lower center", frameon=False, fontsize=7, ncols=4)
    return _svg(figure)
