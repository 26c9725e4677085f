"""FilterSets of the core app's models, shared by UI lists and the API."""

from __future__ import annotations

from datetime import UTC

import django_filters

from .models import FxRate


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter that queries in UTC. Python takes offsets up to ±23:59,
    PostgreSQL only ±15:59: `2026-03-01T00:00:00+23:28` is the same instant in UTC, not an error."""

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class FxRateFilterSet(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", label="From")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", label="To")
    base = django_filters.CharFilter(lookup_expr="iexact")
    quote = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = FxRate
        fields = ["date", "date_from", "date_to", "base", "quote", "rate", "source"]
