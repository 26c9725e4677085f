"""One FilterSet per model, shared by the UI lists and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from .models import Agreement


class AgreementFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    vendor = django_filters.CharFilter(field_name="vendor__slug", label="Vendor (slug)")
    status = django_filters.MultipleChoiceFilter(choices=Agreement.Status.choices)
    start_after = django_filters.DateFilter(field_name="start", lookup_expr="gte", label="Starts on or after")
    end_before = django_filters.DateFilter(field_name="end", lookup_expr="lte", label="Ends on or before")
    active_on = django_filters.DateFilter(method="filter_active_on", label="Active on")

    class Meta:
        model = Agreement
        fields = [
            "reference",
            "vendor",
            "status",
            "currency",
            "start",
            "end",
            "auto_renew",
            "po_number",
            "payment_terms_days",
            "notice_days",
        ]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(reference__icontains=value) | Q(vendor__name__icontains=value) | Q(po_number__icontains=value)
        )

    def filter_active_on(self, queryset, name, value):
        return queryset.filter(status=Agreement.Status.ACTIVE, start__lte=value, end__gte=value)
