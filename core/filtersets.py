"""FilterSets of the core app's models, shared by UI lists and the API."""

from __future__ import annotations

import django_filters

from .models import FxRate


class FxRateFilterSet(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", label="From")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", label="To")
    base = django_filters.CharFilter(lookup_expr="iexact")
    quote = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = FxRate
        fields = ["date", "date_from", "date_to", "base", "quote", "rate", "source"]
