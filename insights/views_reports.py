"""Monthly report pages (DESIGN.md address `/reports/`): the archive of packs (a department manager
sees only the packs of their departments), a pack with whom it went to, its PDF, and "send now"
for finance (a run writing and emailing a month's packs)."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View

from billing.filtersets_reconciliation import MonthFormField
from billing.months import previous_month
from core.exceptions import ApplicationError
from core.policy import can, is_department_scoped
from core.views.generic import ObjectDetailView, ObjectListView
from core.views.mixins import PolicyRequiredMixin

from .models import MonthlyReport, ReportDelivery
from .selectors.reports import report_list, report_pdf
from .services import reports as services
from .tables_reports import ReportFilterSet, ReportTable

SEND = "send"


def ended_months(count: int = 12) -> list[date]:
    months, month = [], previous_month()
    for _ in range(count):
        months.append(month)
        month = previous_month(month)
    return months


class SendForm(forms.Form):
    period = MonthFormField(label="Month", widget=forms.Select)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["period"].widget.choices = [(f"{m:%Y-%m}", f"{m:%B %Y}") for m in ended_months()]


class ReportListView(ObjectListView):
    policy_resource = "report"
    table_class = ReportTable
    filterset_class = ReportFilterSet
    template_name = "insights/reports/report_list.html"
    title = "Monthly reports"
    empty_message = (
        "No report yet. Reports are emailed on the organisation's report day each month; finance can send one now."
    )

    def get_queryset(self):
        return report_list(self.request.user)

    def get_export_filename(self, export_format):
        return f"reports.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if can(self.request.user, "report", SEND):
            context["send_form"] = SendForm(initial={"period": f"{previous_month():%Y-%m}"})
        return context


class ReportObjectMixin:
    def get_report(self, pk: int) -> MonthlyReport:
        return get_object_or_404(report_list(self.request.user), pk=pk)


class ReportDetailView(ReportObjectMixin, ObjectDetailView):
    policy_resource = "report"
    model = MonthlyReport
    template_name = "insights/reports/report_detail.html"

    def get_object(self, queryset=None):
        return self.get_report(self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        report = self.object
        deliveries = ReportDelivery.objects.filter(report=report).select_related("user")
        if is_department_scoped(self.request.user, "report"):  # a manager sees their own delivery only
            deliveries = deliveries.filter(user=self.request.user)
        context.update(
            headline=services.report_headline(report),
            departments=report.departments.order_by("code"),
            deliveries=list(deliveries),
        )
        return context


class ReportPdfView(ReportObjectMixin, PolicyRequiredMixin, View):
    policy_resource = "report"
    http_method_names = ["get"]

    def get(self, request, pk: int):
        report = self.get_report(pk)
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        return response


class ReportSendView(PolicyRequiredMixin, View):
    """Send now: write and email a month's packs; the run's page follows it."""

    policy_resource = "report"
    policy_action = SEND
    http_method_names = ["post"]

    def post(self, request):
        form = SendForm(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
            return redirect("insights:report_list")
        try:
            run = services.reports_send_start(period=form.cleaned_data["period"], actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("insights:report_list")
        messages.success(request, f"Writing and emailing the reports of {form.cleaned_data['period']:%B %Y}.")
        return redirect(reverse("core:run_detail", args=[run.pk]))
