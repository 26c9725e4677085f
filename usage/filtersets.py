"""One FilterSet per model, shared by the UI lists and the API."""

from __future__ import annotations

from datetime import UTC, datetime, time

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from procurement.widgets import DateInput

from .models import AttributionRule, IngestionRun, Source, UsageRecord, VendorCostLine
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


def _record_vendors(request):
    from procurement.models import Vendor

    return Vendor.objects.all()


def _record_agreements(request):
    from contracts.models import Agreement

    return Agreement.objects.all()


def department_tree_ids(codes) -> set[int]:
    """The departments named by code and every department below them (unknown codes: none)."""
    from procurement.directory import descendant_ids
    from procurement.models import Department

    roots = list(Department.objects.filter(code__in=list(codes)).order_by().values_list("id", flat=True))
    return descendant_ids(roots) if roots else set()


@extend_schema_field(OpenApiTypes.STR)
class ReferenceFilter(django_filters.ModelChoiceFilter):
    """An object by its reference, where the model keeps only the id (no foreign key)."""


class UsageRecordFilterSet(django_filters.FilterSet):
    """Usage records. `start` and `end` are dates on the usage date (the UTC date of
    `bucket_start`; `end` exclusive), as in `usage/summary`; `department` takes in its
    sub-departments. The filters on `bucket_start` let a vendor's list use the (vendor_id,
    bucket_start) index."""

    # What the daily rollups keep: with only these, they count the records (rollup_count_filters).
    ROLLUP_FILTERS = frozenset({"vendor", "model", "department", "start", "end"})
    department_ids: set[int] | None = None

    vendor = django_filters.ModelChoiceFilter(queryset=_record_vendors, to_field_name="slug", label="Vendor")
    model = django_filters.CharFilter(label="Model")
    department = django_filters.CharFilter(
        method="filter_department",
        label="Department",
        help_text="Department code: the department and its sub-departments",
    )
    source = django_filters.ModelChoiceFilter(queryset=_cost_line_sources, to_field_name="slug", label="Source")
    start = django_filters.DateFilter(
        method="filter_start", widget=DateInput, label="From", help_text="Usage date (UTC) on or after it"
    )
    end = django_filters.DateFilter(
        method="filter_end", widget=DateInput, label="Before", help_text="Usage date (UTC) before it (exclusive)"
    )
    rating = django_filters.ChoiceFilter(choices=UsageRecord.Rating.choices, label="Rating")
    off_contract = django_filters.BooleanFilter(label="Off contract")
    fx_status = django_filters.ChoiceFilter(choices=UsageRecord.FxStatus.choices, label="FX status")
    agreement = ReferenceFilter(
        queryset=_record_agreements,
        to_field_name="reference",
        method="filter_agreement",
        label="Agreement",
        help_text="Agreement reference: the records it priced",
    )
    run = IdFilter(field_name="run_id", label="Ingestion run")
    external_id = django_filters.CharFilter(label="External id")

    class Meta:
        model = UsageRecord
        fields = [
            "vendor",
            "model",
            "department",
            "source",
            "start",
            "end",
            "rating",
            "off_contract",
            "fx_status",
            "agreement",
            "run",
            "external_id",
        ]

    def filter_department(self, queryset, name, value):
        self.department_ids = department_tree_ids([value])
        return queryset.filter(department_id__in=sorted(self.department_ids) or [-1])

    def filter_start(self, queryset, name, value):
        return queryset.filter(bucket_start__gte=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_end(self, queryset, name, value):
        return queryset.filter(bucket_start__lt=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_agreement(self, queryset, name, value):
        return queryset.filter(agreement_id=value.pk)

    def rollup_count_filters(self) -> dict | None:
        """After filtering: the filters as `usage.selectors.usage_record_count` takes them, or
        None when one of them is not kept by the daily rollups (the records must be counted)."""
        given = {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}
        if not set(given) <= self.ROLLUP_FILTERS:
            return None
        return {
            "vendor_id": given["vendor"].pk if "vendor" in given else None,
            "model": given.get("model"),
            "department_ids": self.department_ids if "department" in given else None,
            "start": given.get("start"),
            "end": given.get("end"),
        }
