"""One FilterSet per model, shared by the UI lists and the API."""

from __future__ import annotations

from datetime import UTC, datetime, time

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from procurement.widgets import DateInput

from .models import AttributionRule, IngestionRun, Source, VendorCostLine
from .models.sources import Format


class SourceFilterSet(django_filters.FilterSet):
    vendor = django_filters.CharFilter(field_name="vendor__slug")

    class Meta:
        model = Source
        fields = ["slug", "name", "vendor", "format", "pull_enabled", "is_active"]


class IngestionRunFilterSet(django_filters.FilterSet):
    source = django_filters.CharFilter(field_name="source__slug")
    created_by = django_filters.CharFilter(field_name="created_by__username")

    class Meta:
        model = IngestionRun
        fields = ["status", "origin", "format", "source", "created_by"]


class AttributionRuleFilterSet(django_filters.FilterSet):
    department = django_filters.CharFilter(field_name="department__code")

    class Meta:
        model = AttributionRule
        fields = ["priority", "dimension", "value", "department"]


# FOCUS 1.0–1.2 charge categories; other feeds' lines are "Usage".
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")


def charge_categories() -> list[tuple[str, str]]:
    """The FOCUS categories, then any other a feed wrote (a filter offers what can match)."""
    stored = VendorCostLine.objects.order_by().values_list("charge_category", flat=True).distinct()
    names = dict.fromkeys([*CHARGE_CATEGORIES, *sorted(name for name in stored if name)])
    return [(name, name) for name in names]


def _cost_line_vendors(request):
    from procurement.models import Vendor

    return Vendor.objects.order_by("name")


def _cost_line_sources(request):
    return Source.objects.order_by("name")


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class VendorCostLineFilterSet(django_filters.FilterSet):
    """`start` and `end` are dates (UTC): a line is in the range when its period starts on or
    after `start` and before `end` (exclusive), as in `usage/summary`."""

    vendor = django_filters.ModelChoiceFilter(queryset=_cost_line_vendors, to_field_name="slug", label="Vendor")
    start = django_filters.DateFilter(
        method="filter_start",
        widget=DateInput,
        label="Period starts on or after",
        help_text="UTC date: lines whose period starts on or after it",
    )
    end = django_filters.DateFilter(
        method="filter_end",
        widget=DateInput,
        label="Period starts before",
        help_text="UTC date, exclusive: lines whose period starts before it",
    )
    charge_category = django_filters.ChoiceFilter(choices=charge_categories, label="Charge category")
    source = django_filters.ModelChoiceFilter(queryset=_cost_line_sources, to_field_name="slug", label="Source")
    run = IdFilter(field_name="run_id", label="Ingestion run")
    currency = django_filters.CharFilter(method="filter_currency", label="Currency")
    model = django_filters.CharFilter(label="Model")
    feed = django_filters.ChoiceFilter(choices=Format.choices, label="Feed format")

    class Meta:
        model = VendorCostLine
        fields = ["vendor", "start", "end", "charge_category", "source", "run", "currency", "model", "feed"]

    def filter_start(self, queryset, name, value):
        return queryset.filter(period_start__gte=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_end(self, queryset, name, value):
        return queryset.filter(period_start__lt=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.strip().upper())
