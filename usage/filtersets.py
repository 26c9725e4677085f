"""One FilterSet per model, shared by the UI lists and the API."""

from __future__ import annotations

import django_filters

from .models import AttributionRule, IngestionRun, Source


class SourceFilterSet(django_filters.FilterSet):
    vendor = django_filters.CharFilter(field_name="vendor__slug")

    class Meta:
        model = Source
        fields = ["slug", "name", "vendor", "format", "is_active"]


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
