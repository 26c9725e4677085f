"""/forecasts/: one subject's latest forecast beside its history, with the method, the backtest
against seasonal naive, scenarios to compare, a refresh and a CSV export."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import tablib
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.generic import TemplateView

from contracts.models import Agreement
from core.exceptions import ApplicationError
from core.policy import CHANGE, can, is_department_scoped
from core.scoping import visible_department_ids
from core.views.mixins import PolicyRequiredMixin
from procurement.models import Department, Vendor
from usage.views.explorer import EXPORT_TYPES

from .api.forecasts import check_subject_visible, scenario_list
from .models import Forecast, ForecastScenario
from .selectors.cash import cash_view
from .services import forecasts as services


def subject_choices(user) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices of the subjects this user may look at."""
    departments = Department.objects.filter(is_system=False).order_by("code")
    if is_department_scoped(user, "forecast"):
        visible = visible_department_ids(user)
        return [
            ("Departments", [(f"department:{d.code}", f"{d.code} — {d.name}") for d in departments if d.pk in visible])
        ]
    return [
        ("Company", [("company", "Whole company")]),
        ("Departments", [(f"department:{d.code}", f"{d.code} — {d.name}") for d in departments]),
        ("Vendors", [(f"vendor:{v.slug}", v.name) for v in Vendor.objects.order_by("name")]),
        (
            "Agreements",
            [
                (f"agreement:{a.reference}", f"{a.reference} ({a.vendor.name})")
                for a in Agreement.objects.exclude(status=Agreement.Status.DRAFT).select_related("vendor")
            ],
        ),
    ]


def chart_data(forecast: Forecast, scenario_forecast: Forecast | None) -> dict:
    actuals = forecast.actuals[-90:]
    labels = [a["date"] for a in actuals] + [p["date"] for p in forecast.points]
    pad = [None] * len(actuals)

    def column(points, name):
        return [None if p.get(name) is None else p[name] for p in points]

    data = {
        "unit": "tokens" if forecast.metric == Forecast.Metric.TOKENS else "money",
        "currency": forecast.currency or "USD",
        "labels": labels,
        "actual": [a["value"] for a in actuals] + [None] * len(forecast.points),
        "forecast": pad + column(forecast.points, "value"),
        "low80": pad + column(forecast.points, "low80"),
        "high80": pad + column(forecast.points, "high80"),
        "low95": pad + column(forecast.points, "low95"),
        "high95": pad + column(forecast.points, "high95"),
    }
    if scenario_forecast is not None:
        data["scenario"] = pad + column(scenario_forecast.points, "value")
        data["scenario_label"] = str(scenario_forecast.scenario)
    return data


class ForecastView(PolicyRequiredMixin, TemplateView):
    policy_resource = "forecast"
    template_name = "insights/forecasts/forecast.html"

    def default_subject(self) -> str | None:
        for _, options in subject_choices(self.request.user):
            if options:
                return options[0][0]
        return None

    def get(self, request, *args, **kwargs):
        subject = request.GET.get("subject") or self.default_subject()
        metric = request.GET.get("metric") if request.GET.get("metric") in Forecast.Metric.values else "cost"
        context = {"subject": subject, "metric": metric, "choices": subject_choices(request.user)}
        context["can_change"] = can(request.user, "forecast", CHANGE)
        context["can_see_cash"] = can(request.user, "cash")
        context["scenarios"] = scenario_list(request.user)
        if subject:
            try:
                check_subject_visible(request.user, subject)
            except ApplicationError:
                raise Http404("No such forecast") from None
            forecast = services.latest_forecast(subject, metric)
            scenario = None
            if request.GET.get("scenario", "").isdigit():
                scenario = context["scenarios"].filter(pk=request.GET["scenario"]).first()
            scenario_forecast = services.latest_forecast(subject, metric, scenario=scenario) if scenario else None
            context.update(forecast=forecast, scenario=scenario, scenario_forecast=scenario_forecast)
            if forecast is not None:
                if request.GET.get("export") in EXPORT_TYPES:
                    return self.export(forecast, request.GET["export"])
                context["chart"] = chart_data(forecast, scenario_forecast)
                context["backtest"] = forecast.backtest or {}
                context["total"] = sum((Decimal(p["value"] or 0) for p in forecast.points), Decimal(0))
                if scenario_forecast is not None:
                    context["scenario_total"] = sum(
                        (Decimal(p["value"] or 0) for p in scenario_forecast.points), Decimal(0)
                    )
        return self.render_to_response(self.get_context_data(**context))

    def export(self, forecast: Forecast, export_format: str) -> HttpResponse:
        name = forecast.subject.replace(":", "-").replace("/", "_")
        data = tablib.Dataset(headers=["date", "value", "low80", "high80", "low95", "high95", "method", "version"])
        for point in forecast.points:
            data.append(
                [
                    point["date"],
                    point["value"],
                    point["low80"],
                    point["high80"],
                    point["low95"],
                    point["high95"],
                    forecast.method,
                    forecast.version,
                ]
            )
        return dataset_response(data, f"forecast_{name}_{forecast.metric}", export_format)

    def post(self, request, *args, **kwargs):
        subject = request.POST.get("subject", "")
        metric = request.POST.get("metric", "cost")
        back = reverse("insights:forecast_list") + "?" + urlencode({"subject": subject, "metric": metric})
        try:
            check_subject_visible(request.user, subject)
            if request.POST.get("action") == "scenario":
                scenario = self.create_scenario(request, subject)
                for wanted in (Forecast.Metric.TOKENS, Forecast.Metric.COST):
                    services.forecast_subject(subject, wanted, scenario=scenario)
                messages.success(request, f"Scenario “{scenario}” forecast for {subject}.")
                return redirect(back + "&" + urlencode({"scenario": scenario.pk}))
            for wanted in (Forecast.Metric.TOKENS, Forecast.Metric.COST):
                services.forecast_subject(subject, wanted)
            messages.success(request, f"Forecasts of {subject} recomputed.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect(back)

    def get_policy_action(self) -> str:
        return CHANGE if self.request.method == "POST" else super().get_policy_action()

    def create_scenario(self, request, subject: str) -> ForecastScenario:
        try:
            multiplier = Decimal(request.POST.get("multiplier", ""))
            starts_on = date.fromisoformat(request.POST.get("starts_on", ""))
        except (InvalidOperation, ValueError):
            raise ApplicationError("Give the scenario a multiplier (e.g. 1.5) and a start date") from None
        return services.forecast_scenario_create(
            name=request.POST.get("name", ""),
            subject=subject,
            multiplier=multiplier,
            starts_on=starts_on,
            actor=request.user,
        )


class CashView(PolicyRequiredMixin, TemplateView):
    """/forecasts/cash/: what falls due to vendors when, by month and item (`?export=csv|xlsx`:
    the items)."""

    policy_resource = "cash"
    template_name = "insights/forecasts/cash.html"

    def get(self, request, *args, **kwargs):
        view = cash_view()
        if request.GET.get("export") in EXPORT_TYPES:
            data = tablib.Dataset(headers=["due", "vendor", "what", "from", "amount", "low", "high", "currency"])
            for item in view.items:
                data.append(
                    [item.due, item.vendor, item.what, item.source, item.amount, item.low, item.high, view.currency]
                )
            return dataset_response(data, f"cash_{view.start:%Y-%m-%d}_{view.end:%Y-%m-%d}", request.GET["export"])
        return self.render_to_response(self.get_context_data(view=view, **kwargs))


def dataset_response(data: tablib.Dataset, name: str, export_format: str) -> HttpResponse:
    """A table as a CSV or XLSX download (the lists' export formats)."""
    response = HttpResponse(data.export(export_format), content_type=EXPORT_TYPES[export_format])
    response["Content-Disposition"] = f'attachment; filename="{name}.{export_format}"'
    return response
