"""One FilterSet per model, shared by the UI lists and the API (NetBox's rule)."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from .models import Vendor


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
