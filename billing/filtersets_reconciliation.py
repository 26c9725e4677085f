"""FilterSets of vendor invoices, reconciliations, GL accounts and SLA evaluations: one per model,
shared by the UI lists and the API (NetBox's rule), so finance staff and scripts filter alike."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from procurement.models import Department, Vendor
from procurement.widgets import DateInput

from .models import GlAccount, Reconciliation, SlaCredit, VendorInvoice
from .months import PeriodError, parse_period


class MonthInput(forms.TextInput):
    """The browser's month picker; the value travels as YYYY-MM."""

    input_type = "month"

    def format_value(self, value):
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m")
        return super().format_value(value)


class MonthFormField(forms.CharField):
    """A month as YYYY-MM → its first day."""

    widget = MonthInput

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return parse_period(value)
        except PeriodError as exc:
            raise ValidationError(str(exc), code="invalid") from None


class MonthFilter(django_filters.Filter):
    field_class = MonthFormField


def vendors(request):
    return Vendor.objects.order_by("name")


def departments(request):
    return Department.objects.order_by("code")


class VendorInvoiceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug")
    period = MonthFilter(label="Month of usage (YYYY-MM)")
    status = django_filters.ChoiceFilter(choices=VendorInvoice.Status.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")
    tax_type = django_filters.ChoiceFilter(choices=VendorInvoice.TaxType.choices, label="Tax document")
    number = django_filters.CharFilter(lookup_expr="iexact")
    po_number = django_filters.CharFilter(lookup_expr="iexact", label="PO number")
    invoice_date_from = django_filters.DateFilter(
        field_name="invoice_date", lookup_expr="gte", widget=DateInput, label="Dated from"
    )
    invoice_date_to = django_filters.DateFilter(
        field_name="invoice_date", lookup_expr="lte", widget=DateInput, label="Dated to"
    )
    due_before = django_filters.DateFilter(
        field_name="due_date", lookup_expr="lte", widget=DateInput, label="Due on or before"
    )

    class Meta:
        model = VendorInvoice
        fields = [
            "q",
            "vendor",
            "period",
            "status",
            "currency",
            "tax_type",
            "number",
            "po_number",
            "invoice_date_from",
            "invoice_date_to",
            "due_before",
        ]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(number__icontains=value)
            | Q(po_number__icontains=value)
            | Q(notes__icontains=value)
            | Q(vendor__name__icontains=value)
            | Q(vendor__slug__icontains=value)
        )


class ReconciliationFilterSet(django_filters.FilterSet):
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug")
    period = MonthFilter(label="Month (YYYY-MM)")
    status = django_filters.MultipleChoiceFilter(choices=Reconciliation.Status.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Reconciliation
        fields = ["vendor", "period", "status", "currency"]


class GlAccountFilterSet(django_filters.FilterSet):
    purpose = django_filters.ChoiceFilter(choices=GlAccount.Purpose.choices)
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug")
    department = django_filters.ModelChoiceFilter(queryset=departments, to_field_name="code")
    account_code = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = GlAccount
        fields = ["purpose", "vendor", "department", "account_code"]


class SlaEvaluationFilterSet(django_filters.FilterSet):
    period = MonthFilter(label="Month (YYYY-MM)")
    vendor = django_filters.ModelChoiceFilter(
        field_name="agreement__vendor", queryset=vendors, to_field_name="slug", label="Vendor"
    )
    agreement = django_filters.CharFilter(field_name="agreement__reference", label="Agreement (reference)")
    metric = django_filters.CharFilter(label="Metric (e.g. availability, latency_p90)")
    status = django_filters.MultipleChoiceFilter(choices=SlaCredit.Status.choices)

    class Meta:
        model = SlaCredit
        fields = ["period", "vendor", "agreement", "metric", "status"]
