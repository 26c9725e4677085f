"""One FilterSet per model, shared by the UI lists and the API (NetBox's rule)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.scoping import scope_queryset

from . import selectors
from .directory import descendant_ids
from .models import Budget, Department, Vendor, VendorCertification, VendorModel
from .widgets import DateInput


def visible_departments(request):
    """Department choices: a department manager is offered only their own subtree."""
    departments = Department.objects.order_by("code")
    if request is None or not getattr(request, "user", None):
        return departments
    return scope_queryset(departments, request.user, resource="department", department_field="id")


def vendors(request):
    return Vendor.objects.order_by("name")


class VendorFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    kind = django_filters.MultipleChoiceFilter(choices=Vendor.Kind.choices)
    invoice_type = django_filters.ChoiceFilter(choices=Vendor.InvoiceType.choices)
    data_residency = django_filters.CharFilter(method="filter_region", label="Data residency region")
    aliases = django_filters.CharFilter(field_name="alias_set__alias", lookup_expr="iexact", label="Alias")

    class Meta:
        model = Vendor
        fields = [
            "slug",
            "name",
            "kind",
            "country",
            "billing_currency",
            "payment_terms_days",
            "invoice_type",
            "dpa_signed",
            "data_residency",
            "aliases",
        ]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(slug__icontains=value) | Q(alias_set__alias__icontains=value)
        ).distinct()

    def filter_region(self, queryset, name, value):
        return queryset.filter(data_residency__contains=[value.upper()])


class VendorCertificationFilterSet(django_filters.FilterSet):
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug", label="Vendor")
    kind = django_filters.MultipleChoiceFilter(choices=VendorCertification.Kind.choices)
    status = django_filters.ChoiceFilter(
        choices=selectors.CERTIFICATION_STATUSES, method="filter_status", label="Status (today)"
    )
    valid_from = django_filters.DateFilter(widget=DateInput)
    valid_until = django_filters.DateFilter(widget=DateInput)
    expires_before = django_filters.DateFilter(
        field_name="valid_until", lookup_expr="lte", widget=DateInput, label="Expires on or before"
    )
    reference = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = VendorCertification
        fields = ["vendor", "kind", "status", "valid_from", "valid_until", "expires_before", "reference"]

    def filter_status(self, queryset, name, value):
        return selectors.certifications_with_status(queryset, value)


class VendorModelFilterSet(django_filters.FilterSet):
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug", label="Vendor")
    model = django_filters.CharFilter(lookup_expr="iexact", label="Model (exact name)")
    q = django_filters.CharFilter(field_name="model", lookup_expr="icontains", label="Model contains")
    currency = django_filters.CharFilter(lookup_expr="iexact")
    on = django_filters.DateFilter(method="filter_on", widget=DateInput, label="In force on date")
    effective_from = django_filters.DateFilter(widget=DateInput)
    effective_to = django_filters.DateFilter(widget=DateInput)

    class Meta:
        model = VendorModel
        fields = ["vendor", "model", "q", "currency", "on", "effective_from", "effective_to"]

    def filter_on(self, queryset, name, value):
        return selectors.vendor_models_in_force(queryset, value)


def _within(queryset, field: str, department: Department):
    return queryset.filter(**{f"{field}__in": descendant_ids([department.pk])})


class DepartmentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    code = django_filters.CharFilter(lookup_expr="iexact")
    name = django_filters.CharFilter(lookup_expr="icontains")
    parent = django_filters.ModelChoiceFilter(queryset=visible_departments, to_field_name="code")
    within = django_filters.ModelChoiceFilter(
        queryset=visible_departments, to_field_name="code", method="filter_within", label="Within (and below)"
    )
    top_level = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull", label="Top level")
    managers = django_filters.CharFilter(field_name="managers__username", distinct=True, label="Manager (username)")
    is_system = django_filters.BooleanFilter(label="System department")

    class Meta:
        model = Department
        fields = ["q", "code", "name", "parent", "within", "top_level", "managers", "is_system"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))

    @extend_schema_field(OpenApiTypes.STR)  # a department code
    def filter_within(self, queryset, name, value):
        return _within(queryset, "id", value)


class BudgetFilterSet(django_filters.FilterSet):
    department = django_filters.ModelChoiceFilter(queryset=visible_departments, to_field_name="code")
    within = django_filters.ModelChoiceFilter(
        queryset=visible_departments,
        to_field_name="code",
        method="filter_within",
        label="Department and below",
    )
    fiscal_year = django_filters.NumberFilter()
    vendor = django_filters.ModelChoiceFilter(queryset=vendors, to_field_name="slug")
    company_wide = django_filters.BooleanFilter(
        field_name="vendor", lookup_expr="isnull", label="All vendors (no vendor set)"
    )
    action = django_filters.ChoiceFilter(choices=Budget.Action.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Budget
        fields = ["department", "within", "fiscal_year", "vendor", "company_wide", "action", "currency"]

    @extend_schema_field(OpenApiTypes.STR)  # a department code
    def filter_within(self, queryset, name, value):
        return _within(queryset, "department_id", value)
