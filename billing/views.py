"""Status panels, served as fragments that the agreement page and the budget page load with htmx
(contracts and procurement cannot import billing; their templates name these URLs). Each panel
carries its chart's data in a json_script tag that static/js/billing_charts.js draws."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.generic import TemplateView

from contracts.models import Agreement
from contracts.tables import commitment_summary
from core.views.mixins import PolicyRequiredMixin
from procurement.selectors import budget_list

from . import selectors
from .selectors import BudgetStatus, CommitmentStatus

CHART_MONEY_PLACES = Decimal("0.000001")  # a chart needs no more precision than a pixel


def _chart_number(value: Decimal | None, unit: str) -> str | None:
    if value is None:
        return None
    if unit == "tokens":
        return str(int(value))
    return format(value.quantize(CHART_MONEY_PLACES), "f")


def commitment_chart(status: CommitmentStatus) -> dict:
    """Cumulative consumption against the pro-rata commitment and the committed line, with the
    projection from `as_of` to the period's end while the period runs."""
    unit = status.unit
    points = status.series
    projected: list[str | None] = [None] * len(points)
    if not status.final and 0 < status.elapsed_days < len(points):
        projected[status.elapsed_days - 1] = _chart_number(status.consumed, unit)
        projected[-1] = _chart_number(status.projected_end, unit)
    return {
        "kind": "commitment",
        "unit": unit,
        "currency": status.currency,
        "labels": [p.day.isoformat() for p in points],
        "series": [
            {"key": "consumed", "label": "Consumed", "data": [_chart_number(p.consumed, unit) for p in points]},
            {
                "key": "expected",
                "label": "Expected (pro rata)",
                "data": [_chart_number(p.expected, unit) for p in points],
            },
            {"key": "committed", "label": "Committed", "data": [_chart_number(status.committed, unit)] * len(points)},
            {"key": "projected", "label": f"Projected ({status.projection_method})", "data": projected},
        ],
    }


def budget_chart(status: BudgetStatus) -> dict:
    """The burn chart: cumulative actual against the cumulative phased budget and the annual amount,
    with the projection from the current month to the year's end."""
    months = status.months
    unit = status.currency
    projected: list[str | None] = [None] * len(months)
    current = max((i for i, m in enumerate(months) if m.cumulative_actual is not None), default=None)
    if current is not None and current < len(months) - 1 and status.elapsed_days < status.year_days:
        projected[current] = _chart_number(months[current].cumulative_actual, unit)
        projected[-1] = _chart_number(status.projected_year_end, unit)
    return {
        "kind": "budget",
        "unit": unit,
        "currency": status.currency,
        "labels": [m.month.strftime("%Y-%m") for m in months],
        "series": [
            {
                "key": "consumed",
                "label": "Actual (cumulative)",
                "data": [_chart_number(m.cumulative_actual, unit) for m in months],
            },
            {
                "key": "expected",
                "label": "Budget (cumulative)",
                "data": [_chart_number(m.cumulative_budget, unit) for m in months],
            },
            {"key": "committed", "label": "Annual budget", "data": [_chart_number(status.annual, unit)] * len(months)},
            {"key": "projected", "label": f"Projected ({status.projection_method})", "data": projected},
        ],
    }


class StatusPanelMixin(PolicyRequiredMixin):
    """`?as_of=YYYY-MM-DD` (default today, UTC); a date that does not parse is reported and today used."""

    def as_of(self) -> tuple[date, str]:
        raw = self.request.GET.get("as_of", "").strip()
        today = timezone.now().date()
        if not raw:
            return today, ""
        try:
            return date.fromisoformat(raw), ""
        except ValueError:
            return today, f"“{raw}” is not a date (YYYY-MM-DD); showing today."


class CommitmentPanelView(StatusPanelMixin, TemplateView):
    policy_resource = "agreement"
    template_name = "billing/_commitment_panel.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        agreement = get_object_or_404(
            self.scope(Agreement.objects.select_related("vendor")), reference=kwargs["reference"]
        )
        as_of, as_of_error = self.as_of()
        commitments = {c.pk: c for c in agreement.commitments.all()}
        rows = [
            {
                "status": status,
                "summary": commitment_summary(commitments[status.id]),
                "chart": commitment_chart(status),
                "chart_id": f"commitment-chart-{status.id}",
            }
            for status in selectors.commitment_statuses(agreement=agreement, as_of=as_of)
        ]
        context.update(agreement=agreement, as_of=as_of, as_of_error=as_of_error, rows=rows)
        return context


class BudgetStatusPanelView(StatusPanelMixin, TemplateView):
    policy_resource = "budget"
    department_field = "department_id"
    template_name = "billing/_budget_status_panel.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        budget = get_object_or_404(self.scope(budget_list()), pk=kwargs["pk"])
        as_of, as_of_error = self.as_of()
        status = selectors.budget_status(budget=budget, as_of=as_of)
        context.update(
            budget=budget,
            as_of=as_of,
            as_of_error=as_of_error,
            status=status,
            chart=budget_chart(status),
            chart_id=f"budget-chart-{budget.pk}",
        )
        return context
