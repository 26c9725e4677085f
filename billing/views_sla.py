"""SLA evaluation pages (DESIGN.md "SLA clauses"; the API is billing/api/sla.py): the list of
evaluations — per agreement × SLA clause × month the measured value, breach, credit and its
status — that filters, sorts, pages and exports like every list; evaluating a month on demand;
and a person's decision on a credit (claimed, received on a date, waived, owed again). Every
action calls one service (billing.services.sla); what it refuses comes back as a message and
nothing is half-applied."""

from __future__ import annotations

from datetime import date

import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.http import HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from contracts.models import Agreement, SlaClause
from core.exceptions import ApplicationError
from core.policy import CHANGE, can
from core.views.generic import ObjectListView
from core.views.mixins import PolicyRequiredMixin

from .filtersets_reconciliation import MonthFormField, SlaEvaluationFilterSet
from .models import SlaCredit
from .months import PeriodError, parse_period, previous_month
from .services import sla as sla_services
from .services.sla import sla_credit_list, sla_month_evaluate_once
from .tables_reconciliation import NUM, MoneyColumn, exact
from .templatetags.billing_tags import money, plain
from .views_reconciliation import TabsMixin

RESOURCE = "sla_evaluation"
METRIC_LABELS = dict(SlaClause.Metric.choices)
# Units of a metric's target and measured value, and of its breach (percentage points for rates).
UNITS = {
    SlaClause.Metric.AVAILABILITY: ("%", "pp"),
    SlaClause.Metric.ERROR_RATE: ("%", "pp"),
    SlaClause.Metric.LATENCY_P50: ("ms", "ms"),
    SlaClause.Metric.LATENCY_P90: ("ms", "ms"),
    SlaClause.Metric.THROUGHPUT_FLUCTUATION: ("×", "×"),
}
ALL_MODELS = "all models"


def claim_overdue(credit: SlaCredit, today: date) -> bool:
    """A credit still owed (and worth claiming) whose claim-by date has passed."""
    return (
        credit.status == SlaCredit.Status.OWED
        and (credit.credit or 0) > 0
        and credit.claim_by is not None
        and credit.claim_by < today
    )


def _with_unit(value, metric: str, *, breach: bool = False) -> str:
    unit = UNITS.get(metric, ("", ""))[1 if breach else 0]
    return f"{plain(value)} {unit}".strip()


def _form_errors(form: forms.Form) -> str:
    return " ".join(
        " ".join(errors) if name == "__all__" else f"{form.fields[name].label or name}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )


def _back(request, fallback: str) -> str:
    """Back to the page the form was on (`next`, same host only), else `fallback`."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _list_url(**query) -> str:
    params = "&".join(f"{name}={value}" for name, value in query.items() if value)
    return reverse("billing:sla_list") + (f"?{params}" if params else "")


# The table -------------------------------------------------------------------------------------


class CurrencyMoneyColumn(MoneyColumn):
    """A money figure shown with its currency code ("USD 40.00"); exact and bare in exports."""

    def render(self, value, record):
        currency = tables.A(self.currency_accessor).resolve(record)
        return format_html('<span title="{}">{} {}</span>', exact(value), currency, money(value, currency))


class SlaEvaluationTable(tables.Table):
    period = tables.Column(verbose_name="Month")
    vendor = tables.Column(
        accessor="agreement__vendor__name", verbose_name="Vendor", order_by=("agreement__vendor__name",)
    )
    agreement = tables.Column(
        accessor="agreement__reference", verbose_name="Agreement", order_by=("agreement__reference",)
    )
    metric = tables.Column()
    models_in_scope = tables.Column(verbose_name="Models", orderable=False)
    target = tables.Column(attrs=NUM)
    measured = tables.Column(attrs=NUM, default="—")
    breach = tables.Column(attrs=NUM, default="—")
    credit_percent = tables.Column(verbose_name="Credit %", attrs=NUM)
    in_scope_charges = CurrencyMoneyColumn(verbose_name="In-scope charges")
    credit = CurrencyMoneyColumn(verbose_name="Credit")
    claim_by = tables.Column(verbose_name="Claim by", default="—")
    status = tables.Column()
    currency = tables.Column(visible=False)
    received_on = tables.Column(visible=False, verbose_name="Received on")
    note = tables.Column(visible=False)

    class Meta:
        model = SlaCredit
        fields = (
            "period",
            "vendor",
            "agreement",
            "metric",
            "models_in_scope",
            "target",
            "measured",
            "breach",
            "credit_percent",
            "in_scope_charges",
            "credit",
            "claim_by",
            "status",
        )
        attrs = {"class": "table table-vcenter card-table"}
        empty_text = "No SLA evaluations match."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = timezone.now().date()
        self._can_change: bool | None = None

    def can_change(self) -> bool:
        if self._can_change is None:
            user = getattr(getattr(self, "request", None), "user", None)
            self._can_change = user is not None and can(user, RESOURCE, CHANGE)
        return self._can_change

    def render_period(self, value):
        return value.strftime("%Y-%m")

    def value_period(self, value):
        return value.strftime("%Y-%m")

    def render_agreement(self, record):
        return format_html('<a href="{}">{}</a>', record.agreement.get_absolute_url(), record.agreement.reference)

    def value_agreement(self, record):
        return record.agreement.reference

    def render_metric(self, value):
        return METRIC_LABELS.get(value, value)

    def render_models_in_scope(self, value):
        if not value:
            return format_html('<span class="text-secondary">{}</span>', ALL_MODELS)
        return ", ".join(value)

    def value_models_in_scope(self, value):
        return ", ".join(value) if value else ALL_MODELS

    def render_target(self, value, record):
        return _with_unit(value, record.metric)

    def render_measured(self, value, record):
        return _with_unit(value, record.metric)

    def render_breach(self, value, record):
        return _with_unit(value, record.metric, breach=True)

    def render_credit_percent(self, value):
        return f"{plain(value)} %"

    def value_target(self, value):
        return exact(value)

    def value_measured(self, value):
        return exact(value)

    def value_breach(self, value):
        return exact(value)

    def value_credit_percent(self, value):
        return exact(value)

    def render_claim_by(self, value, record):
        if claim_overdue(record, self.today):
            return format_html(
                '<span class="text-danger fw-bold">{}</span> <span class="badge bg-red-lt">overdue</span>',
                value.isoformat(),
            )
        return value.isoformat()

    def value_claim_by(self, value):
        return value.isoformat()

    def value_received_on(self, value):
        return value.isoformat()

    def render_status(self, record):
        # rendered with only what it needs (see tables_reconciliation.cell): no context processors per row
        request = getattr(self, "request", None)
        return render_to_string(
            "billing/sla/_status_cell.html",
            {
                "record": record,
                "request": request,
                "csrf_token": get_token(request) if request is not None else "",
                "can_change": self.can_change(),
                "status_choices": SlaCredit.Status.choices,
            },
        )

    def value_status(self, record):
        return record.status


# Forms -----------------------------------------------------------------------------------------


def evaluable_agreements():
    """The agreements an evaluation covers (billing.services.sla.sla_evaluate)."""
    return Agreement.objects.filter(status__in=[Agreement.Status.ACTIVE, Agreement.Status.EXPIRED]).order_by(
        "reference"
    )


class SlaEvaluateForm(forms.Form):
    period = MonthFormField(label="Month", help_text="A month that has ended (YYYY-MM).")
    agreement = forms.ModelChoiceField(
        queryset=evaluable_agreements(),
        to_field_name="reference",
        required=False,
        empty_label="— every active or expired agreement —",
    )

    def clean_period(self):
        month = self.cleaned_data["period"]
        last = previous_month()
        if month > last:
            raise ValidationError(
                f"{month:%Y-%m} has not ended yet: evaluate a month that has ended ({last:%Y-%m} at the latest).",
                code="not_ended",
            )
        return month


class SlaCreditStatusForm(forms.Form):
    status = forms.ChoiceField(choices=SlaCredit.Status.choices)
    received_on = forms.DateField(required=False, label="Received on")
    note = forms.CharField(required=False, max_length=4000)

    def clean(self):
        data = super().clean()
        status, received_on = data.get("status"), data.get("received_on")
        if status == SlaCredit.Status.RECEIVED and received_on is None and "received_on" not in self.errors:
            self.add_error("received_on", "Give the date the credit was received.")
        if status and status != SlaCredit.Status.RECEIVED and received_on is not None:
            self.add_error("received_on", "Only a received credit has a date received.")
        return data


# Views -----------------------------------------------------------------------------------------


class SlaEvaluationListView(TabsMixin, ObjectListView):
    """Every evaluation, newest month first. `?period=YYYY-MM` of a month that has ended and has
    no evaluation yet evaluates it first, as the API's list does."""

    policy_resource = RESOURCE
    table_class = SlaEvaluationTable
    filterset_class = SlaEvaluationFilterSet
    template_name = "billing/sla/list.html"
    title = "SLA evaluations"
    empty_message = "No SLA evaluations match."
    tab = "sla"

    def get(self, request, *args, **kwargs):
        raw = (request.GET.get("period") or "").strip()
        if raw:
            try:
                month = parse_period(raw)
            except PeriodError:
                pass  # the filter form says what is wrong
            else:
                sla_month_evaluate_once(month=month, actor=request.user)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return sla_credit_list()

    def get_export_filename(self, export_format):
        try:
            suffix = f"-{parse_period(self.request.GET['period']):%Y-%m}"
        except (KeyError, PeriodError):
            suffix = ""
        return f"sla_evaluations{suffix}.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = self.object_list.order_by()
        totals: dict[str, dict] = {}
        for entry in rows.values("status", "currency").annotate(count=Count("id"), total=Sum("credit")):
            status = totals.setdefault(entry["status"], {"count": 0, "credits": []})
            status["count"] += entry["count"]
            if entry["total"]:
                status["credits"].append((entry["currency"], money(entry["total"], entry["currency"])))
        today = timezone.now().date()
        context.update(
            summary=[
                {"status": value, "label": label, **totals[value]}
                for value, label in SlaCredit.Status.choices
                if value in totals
            ],
            overdue=rows.filter(
                status=SlaCredit.Status.OWED, credit__gt=0, claim_by__isnull=False, claim_by__lt=today
            ).count(),
            evaluate_form=SlaEvaluateForm(
                initial={"period": previous_month(), "agreement": self.request.GET.get("agreement") or None},
                auto_id="evaluate_%s",
            )
            if context["can_change"]
            else None,
        )
        return context


class SlaEvaluateView(PolicyRequiredMixin, View):
    """(Re-)evaluate a month that has ended — every agreement's SLA clauses or one agreement's.
    Claimed, received and waived credits keep their figures."""

    policy_resource = RESOURCE
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request):
        form = SlaEvaluateForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(_list_url())
        month, agreement = form.cleaned_data["period"], form.cleaned_data["agreement"]
        rows = sla_services.sla_evaluate(month=month, agreement=agreement, actor=request.user)
        scope = f"{agreement.reference} " if agreement else ""
        if not rows:
            messages.warning(
                request, f"{scope}{month:%Y-%m}: no active or expired agreement with SLA clauses covers the month."
            )
        else:
            with_credit = sum(1 for row in rows if row.credit > 0)
            kept = sum(1 for row in rows if row.status != SlaCredit.Status.OWED)
            text = (
                f"{scope}{month:%Y-%m} evaluated: {len(rows)} SLA clause{'s' if len(rows) != 1 else ''}, "
                f"{with_credit} with a credit."
            )
            if kept:
                text += f" {kept} already claimed, received or waived kept {'their' if kept != 1 else 'its'} figures."
            messages.success(request, text)
        return HttpResponseRedirect(
            _list_url(period=f"{month:%Y-%m}", agreement=agreement.reference if agreement else "")
        )


class SlaCreditStatusView(PolicyRequiredMixin, View):
    """A person's decision on one credit, with a note; back to the list it was set from."""

    policy_resource = RESOURCE
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request, pk):
        credit = get_object_or_404(sla_credit_list(), pk=pk)
        name = f"{credit.agreement.reference} {METRIC_LABELS.get(credit.metric, credit.metric)} {credit.period:%Y-%m}"
        form = SlaCreditStatusForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"{name}: {_form_errors(form)}")
        else:
            try:
                row = sla_services.sla_credit_status_set(credit=credit, actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:  # ValidationFailed: the rule the service holds
                messages.error(request, f"{name}: {exc.message}")
            else:
                detail = f" on {row.received_on:%Y-%m-%d}" if row.received_on else ""
                messages.success(request, f"{name}: {row.get_status_display().lower()}{detail}.")
        return HttpResponseRedirect(_back(request, _list_url(period=f"{credit.period:%Y-%m}")))


# URLs (billing/urls.py adds them) ----------------------------------------------------------------

URLS = [
    path("reconciliation/sla/", SlaEvaluationListView.as_view(), name="sla_list"),
    path("reconciliation/sla/evaluate/", SlaEvaluateView.as_view(), name="sla_evaluate"),
    path("reconciliation/sla/<int:pk>/status/", SlaCreditStatusView.as_view(), name="sla_status"),
]
